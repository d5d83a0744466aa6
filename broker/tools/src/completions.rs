//! `nsq completions <shell>`: prints the shell completion script (clap_complete).

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nsq completions bash > ~/.local/share/bash-completion/completions/nsq\n  \
                        nsq completions zsh > \"${fpath[1]}/_nsq\"\n  nsq completions fish > ~/.config/fish/completions/nsq.fish"
)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    shell: Shell,
}

pub fn run<C: CommandFactory>(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = C::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(())
}
