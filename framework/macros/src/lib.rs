//! Macros for the framework: `#[derive(Event)]` binds a type to its topic and codec so
//! `broker.publish_event(&event)` needs no topic string. Topic names are checked against
//! NSQ's rules at compile time.
//!
//! ```text
//! #[derive(framework::Event, serde::Serialize, serde::Deserialize)]
//! #[event(topic = "order.created")]              // codec = "json" (default) or "protobuf"
//! pub struct OrderCreated { pub id: String }
//! ```

mod names;

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, DeriveInput, LitStr};

/// Implements `framework::Event` for a type: `#[event(topic = "...", codec = "json")]`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match event_impl(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn event_impl(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let mut topic: Option<LitStr> = None;
    let mut codec: Option<LitStr> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("topic") {
                topic = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("codec") {
                codec = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `topic = \"...\"` or `codec = \"json\" | \"protobuf\"`"))
            }
        })?;
    }
    let topic = topic.ok_or_else(|| {
        syn::Error::new_spanned(&input.ident, "missing #[event(topic = \"...\")]")
    })?;
    if let Some(problem) = names::name_problem(&topic.value()) {
        return Err(syn::Error::new_spanned(&topic, problem));
    }
    let codec = match codec.as_ref().map(LitStr::value).as_deref() {
        None | Some("json") => quote!(::framework::Json),
        Some("protobuf") | Some("proto") => quote!(::framework::Protobuf),
        Some(other) => {
            return Err(syn::Error::new_spanned(
                codec,
                format!("unknown codec {other:?}; use \"json\" or \"protobuf\""),
            ))
        }
    };
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::framework::Event for #name #type_generics #where_clause {
            const TOPIC: &'static str = #topic;

            fn to_message(&self) -> ::core::result::Result<::framework::Message, ::framework::CodecError> {
                ::framework::Message::encode::<#codec, Self>(self)
            }

            fn from_message(message: &::framework::Message) -> ::core::result::Result<Self, ::framework::CodecError> {
                message.decode::<#codec, Self>()
            }
        }
    })
}
