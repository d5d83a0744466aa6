//! `#[derive(Event)]`: implements `framework::Event` with the topic and codec from
//! `#[event(topic = "...", codec = "json" | "protobuf")]`.

use crate::names;
use crate::options::{parse_args, Codec};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Meta};

pub fn expand(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let mut topic = None;
    let mut codec = Codec::Json;
    let mut found = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        found = true;
        let Meta::List(list) = &attr.meta else {
            return Err(syn::Error::new_spanned(
                attr,
                "expected #[event(topic = \"...\")]",
            ));
        };
        for arg in parse_args(list.tokens.clone())? {
            match arg.key.as_str() {
                "topic" => {
                    let name = arg.string()?;
                    if let Some(message) = names::check("topic", &name) {
                        return Err(syn::Error::new(arg.span, message));
                    }
                    topic = Some(name);
                }
                "codec" => codec = Codec::parse(&arg, false)?,
                other => {
                    return Err(syn::Error::new(
                        arg.span,
                        format!("unknown event option `{other}`; expected topic or codec"),
                    ))
                }
            }
        }
    }
    let Some(topic) = topic else {
        let message = if found {
            "#[event(...)] needs `topic = \"...\"`"
        } else {
            "#[derive(Event)] needs #[event(topic = \"...\")]"
        };
        return Err(syn::Error::new_spanned(&input.ident, message));
    };
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let (encode, decode) = match codec {
        Codec::Protobuf => (
            quote!(::framework::Message::protobuf(self)),
            quote!(message.decode_protobuf::<Self>()),
        ),
        _ => (
            quote!(::framework::Message::json(self)),
            quote!(message.decode_json::<Self>()),
        ),
    };
    Ok(quote! {
        impl #impl_generics ::framework::Event for #name #type_generics #where_clause {
            const TOPIC: &'static str = #topic;

            fn to_message(&self) -> ::core::result::Result<::framework::Message, ::framework::CodecError> {
                #encode
            }

            fn from_message(message: &::framework::Message) -> ::core::result::Result<Self, ::framework::CodecError> {
                #decode
            }
        }
    })
}
