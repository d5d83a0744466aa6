//! `#[subscriber(...)]`: turns `async fn name(params) -> Result<(), E>` into a unit value
//! `name` implementing `framework::subscriber::Subscriber`, and keeps the function as
//! `name::call`.
//!
//! Parameters are recognised by type: `Context` (the transport context), `Delivery` (the
//! whole delivery), `Inject<T>` (a provided value) and at most one other type, the decoded
//! message.

use crate::names;
use crate::options::{parse_args, Arg, Codec};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{FnArg, ItemFn, ReturnType, Type};

/// The annotation's arguments, checked.
struct Annotation {
    topic: Option<String>,
    channel: String,
    concurrency: Option<usize>,
    max_in_flight: Option<usize>,
    max_attempts: Option<u16>,
    dead_letter: Option<String>,
    codec: Option<(Codec, Span)>,
    auto_touch: Option<bool>,
}

fn checked_name(arg: &Arg, what: &str) -> syn::Result<String> {
    let name = arg.string()?;
    match names::check(what, &name) {
        Some(message) => Err(syn::Error::new(arg.span, message)),
        None => Ok(name),
    }
}

fn positive(arg: &Arg) -> syn::Result<usize> {
    let value: usize = arg.int()?;
    if value == 0 {
        return Err(syn::Error::new(
            arg.span,
            format!("`{}` must be at least 1", arg.key),
        ));
    }
    Ok(value)
}

impl Annotation {
    fn parse(attr: TokenStream) -> syn::Result<Annotation> {
        let mut topic = None;
        let mut channel = None;
        let mut annotation = Annotation {
            topic: None,
            channel: String::new(),
            concurrency: None,
            max_in_flight: None,
            max_attempts: None,
            dead_letter: None,
            codec: None,
            auto_touch: None,
        };
        for arg in parse_args(attr)? {
            match arg.key.as_str() {
                "topic" => topic = Some(checked_name(&arg, "topic")?),
                "channel" => channel = Some(checked_name(&arg, "channel")?),
                "concurrency" => annotation.concurrency = Some(positive(&arg)?),
                "max_in_flight" => annotation.max_in_flight = Some(positive(&arg)?),
                "max_attempts" => annotation.max_attempts = Some(arg.int()?),
                "dead_letter" => annotation.dead_letter = Some(checked_name(&arg, "topic")?),
                "codec" => annotation.codec = Some((Codec::parse(&arg, true)?, arg.span)),
                "auto_touch" => annotation.auto_touch = Some(arg.boolean()?),
                other => {
                    return Err(syn::Error::new(
                        arg.span,
                        format!(
                            "unknown subscriber option `{other}`; expected topic, channel, \
                             concurrency, max_in_flight, max_attempts, dead_letter, codec \
                             or auto_touch"
                        ),
                    ))
                }
            }
        }
        annotation.topic = topic;
        annotation.channel = channel.ok_or_else(|| {
            syn::Error::new(Span::call_site(), "#[subscriber] needs `channel = \"...\"`")
        })?;
        Ok(annotation)
    }
}

enum Param {
    Context,
    Delivery,
    Inject(Type),
    Message(Type),
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

fn classify(ty: &Type) -> Param {
    match last_segment(ty) {
        Some(seg) if seg.ident == "Context" && seg.arguments.is_empty() => Param::Context,
        Some(seg) if seg.ident == "Delivery" && seg.arguments.is_empty() => Param::Delivery,
        Some(seg) if seg.ident == "Inject" && !seg.arguments.is_empty() => {
            Param::Inject(ty.clone())
        }
        _ => Param::Message(ty.clone()),
    }
}

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let annotation = Annotation::parse(attr)?;
    let function: ItemFn = syn::parse2(item)?;
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "#[subscriber] needs an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a subscriber cannot be generic",
        ));
    }
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new_spanned(
            sig,
            "a subscriber returns Result<(), E>: Ok acknowledges, Err retries",
        ));
    }

    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "a subscriber cannot take self",
                ))
            }
            FnArg::Typed(typed) => params.push(classify(&typed.ty)),
        }
    }
    let messages: Vec<&Type> = params
        .iter()
        .filter_map(|p| match p {
            Param::Message(ty) => Some(ty),
            _ => None,
        })
        .collect();
    if messages.len() > 1 {
        return Err(syn::Error::new_spanned(
            messages[1],
            "a subscriber takes one message parameter (plus Context, Delivery, Inject<T>)",
        ));
    }
    let message_type = messages.first().copied();

    let topic = match (&annotation.topic, message_type) {
        (Some(topic), _) => quote!(#topic),
        (None, Some(ty)) => {
            if let Some((_, span)) = annotation.codec {
                return Err(syn::Error::new(
                    span,
                    "without `topic`, the message type's Event impl gives topic and codec",
                ));
            }
            quote!(<#ty as ::framework::Event>::TOPIC)
        }
        (None, None) => return Err(syn::Error::new(
            Span::call_site(),
            "#[subscriber] needs `topic = \"...\"` (or a message parameter whose type is an Event)",
        )),
    };

    let mut resolve = Vec::new();
    let mut extract = Vec::new();
    let mut args = Vec::new();
    for (index, param) in params.iter().enumerate() {
        let ident = format_ident!("__subscriber_arg_{}", index);
        args.push(ident.clone());
        match param {
            Param::Context => extract.push(quote!(let #ident = delivery.context.clone();)),
            Param::Delivery => extract.push(quote!(let #ident = delivery.clone();)),
            Param::Inject(ty) => {
                resolve.push(quote!(let #ident = <#ty>::resolve(container)?;));
            }
            Param::Message(ty) => {
                let decode = match (annotation.topic.is_some(), annotation.codec.map(|c| c.0)) {
                    (false, _) => quote!(::framework::subscriber::decode_event::<#ty>),
                    (true, Some(Codec::Protobuf)) => {
                        quote!(::framework::subscriber::decode_protobuf::<#ty>)
                    }
                    (true, Some(Codec::Raw)) => quote!(::framework::subscriber::decode_raw::<#ty>),
                    (true, _) => quote!(::framework::subscriber::decode_json::<#ty>),
                };
                extract.push(quote!(let #ident = #decode(&delivery)?;));
            }
        }
    }
    // Injected values are moved into the handler closure and cloned per message; the
    // rest are taken from the delivery.
    let mut clone_for_call = Vec::new();
    for (index, param) in params.iter().enumerate() {
        if matches!(param, Param::Inject(_)) {
            let ident = format_ident!("__subscriber_arg_{}", index);
            clone_for_call.push(quote!(let #ident = ::core::clone::Clone::clone(&#ident);));
        }
    }

    let channel = &annotation.channel;
    let mut options =
        vec![quote!(let options = ::framework::broker::SubscribeOptions::new(#channel);)];
    if let Some(n) = annotation.concurrency {
        options.push(quote!(let options = options.concurrency(#n);));
    }
    if let Some(n) = annotation.max_in_flight {
        options.push(quote!(let options = options.max_in_flight(#n);));
    }
    if let Some(n) = annotation.max_attempts {
        options.push(quote!(let options = options.max_attempts(#n);));
    }
    if let Some(topic) = &annotation.dead_letter {
        options.push(quote!(let options = options.dead_letter(#topic);));
    }
    if let Some(enabled) = annotation.auto_touch {
        options.push(quote!(let options = options.auto_touch(#enabled);));
    }

    let vis = &function.vis;
    let name = &sig.ident;
    let name_string = name.to_string();
    let docs: Vec<_> = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let attrs = &function.attrs;
    let inputs = &sig.inputs;
    let output = &sig.output;
    let block = &function.block;

    Ok(quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #name;

        impl #name {
            /// The annotated function itself, callable directly (e.g. in unit tests).
            #(#attrs)*
            #vis async fn call(#inputs) #output #block
        }

        impl ::framework::subscriber::Subscriber for #name {
            fn name(&self) -> &'static str {
                #name_string
            }

            fn topic(&self) -> &'static str {
                #topic
            }

            fn options(&self) -> ::framework::broker::SubscribeOptions {
                #(#options)*
                options
            }

            fn handler(
                &self,
                container: &::framework::provider::Container,
            ) -> ::core::result::Result<::framework::broker::Handler, ::framework::provider::ProvideError> {
                #(#resolve)*
                ::core::result::Result::Ok(::framework::broker::handler_fn(
                    move |delivery: ::framework::broker::Delivery| {
                        #(#clone_for_call)*
                        async move {
                            #(#extract)*
                            #name::call(#(#args),*)
                                .await
                                .map_err(::framework::subscriber::into_box_error)
                        }
                    },
                ))
            }
        }
    })
}
