//! Parsing of `key = value, ...` attribute arguments into typed, span-carrying values.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, MetaNameValue, Token};

/// One `key = value` argument.
pub struct Arg {
    pub key: String,
    pub value: Lit,
    pub span: Span,
}

impl Arg {
    pub fn string(&self) -> syn::Result<String> {
        match &self.value {
            Lit::Str(s) => Ok(s.value()),
            _ => Err(syn::Error::new(
                self.span,
                format!("`{}` takes a string", self.key),
            )),
        }
    }

    pub fn int<T: std::str::FromStr>(&self) -> syn::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match &self.value {
            Lit::Int(i) => i.base10_parse(),
            _ => Err(syn::Error::new(
                self.span,
                format!("`{}` takes an integer", self.key),
            )),
        }
    }

    pub fn boolean(&self) -> syn::Result<bool> {
        match &self.value {
            Lit::Bool(b) => Ok(b.value),
            _ => Err(syn::Error::new(
                self.span,
                format!("`{}` takes true or false", self.key),
            )),
        }
    }
}

/// Parses `key = literal, ...`; rejects duplicates.
pub fn parse_args(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut args: Vec<Arg> = Vec::new();
    for pair in pairs {
        let span = syn::spanned::Spanned::span(&pair);
        let key = pair
            .path
            .get_ident()
            .map(|i| i.to_string())
            .ok_or_else(|| syn::Error::new(span, "expected `name = value`"))?;
        let Expr::Lit(ExprLit { lit, .. }) = pair.value else {
            return Err(syn::Error::new(
                span,
                format!("`{key}` takes a literal value"),
            ));
        };
        if args.iter().any(|a| a.key == key) {
            return Err(syn::Error::new(span, format!("`{key}` given twice")));
        }
        args.push(Arg {
            key,
            value: lit,
            span,
        });
    }
    Ok(args)
}

/// The codec named by `codec = "..."`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Json,
    Protobuf,
    Raw,
}

impl Codec {
    pub fn parse(arg: &Arg, allow_raw: bool) -> syn::Result<Codec> {
        match arg.string()?.as_str() {
            "json" => Ok(Codec::Json),
            "protobuf" | "proto" => Ok(Codec::Protobuf),
            "raw" if allow_raw => Ok(Codec::Raw),
            other => {
                let allowed = if allow_raw {
                    "\"json\", \"protobuf\" or \"raw\""
                } else {
                    "\"json\" or \"protobuf\""
                };
                Err(syn::Error::new(
                    arg.span,
                    format!("unknown codec {other:?}; use {allowed}"),
                ))
            }
        }
    }
}
