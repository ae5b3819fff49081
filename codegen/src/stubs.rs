//! Rendering of the typed RabbitMQ stubs: a publisher per producing service, a handler trait
//! and dispatch per consuming service, and the topology constructor. Each is a file of the
//! generated tree, included by the root file as `producers`, `consumers` and `topology`.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use schemactl_runtime::topology::{ExchangeKind, Overflow, QueueType, RetryDelay, Topology};

use crate::model::{Catalog, EventVersion, Service};
use crate::rust::doc_attrs;

/// `super::<domain>::<module>::<Type>`: the payload type's path from a sibling module of the
/// domains, avoiding the deprecated aliases.
fn payload_path(v: &EventVersion) -> TokenStream {
    let domain = format_ident!("{}", v.rust.domain_module);
    let module = format_ident!("{}", v.rust.module);
    let ty = format_ident!("{}", v.rust.type_name);
    quote!(super::#domain::#module::#ty)
}

fn versions<'a>(catalog: &'a Catalog, message_types: &[String]) -> Vec<&'a EventVersion> {
    message_types
        .iter()
        .filter_map(|m| catalog.version(m))
        .collect()
}

fn deprecation(v: &EventVersion) -> Option<TokenStream> {
    v.deprecated.as_ref().map(|note| {
        if note.is_empty() {
            quote!(#[deprecated])
        } else {
            quote!(#[deprecated(note = #note)])
        }
    })
}

fn service_doc(s: &Service, what: &str) -> TokenStream {
    let mut text = format!("{what} `{}`.", s.name);
    if let Some(d) = &s.description {
        text.push_str("\n\n");
        text.push_str(d.trim());
    }
    if let Some(o) = &s.owner {
        text.push_str(&format!("\n\nOwner: {o}."));
    }
    doc_attrs(&text)
}

/// `producers.rs`: one publisher per service that produces events.
pub fn producers(catalog: &Catalog) -> TokenStream {
    let items = catalog.services.values().filter(|s| !s.produces.is_empty()).map(|s| {
        let ty = format_ident!("{}", s.rust.publisher());
        let name = &s.name;
        let doc = service_doc(s, "Publishes the events of");
        let methods = versions(catalog, &s.produces).into_iter().map(|v| {
            let method = format_ident!("{}", v.rust.method);
            let send = format_ident!("send_{}", v.rust.method);
            let payload = payload_path(v);
            let deprecated = deprecation(v);
            let doc = format!(
                " Publishes `{}` to `{}` with routing key `{}` and waits for the broker's confirm.",
                v.message_type, v.exchange, v.routing_key
            );
            let send_doc = format!(
                " Publishes `{}` without waiting for its confirm: await the returned \
                 [`PendingConfirm::confirmed`](::schemactl_runtime::PendingConfirm::confirmed), or many of \
                 them with [`confirm_all`](::schemactl_runtime::confirm_all).",
                v.message_type
            );
            quote! {
                #[doc = #doc]
                #deprecated
                pub async fn #method(
                    &self,
                    payload: &#payload,
                    ctx: &::schemactl_runtime::PublishContext,
                ) -> ::core::result::Result<::schemactl_runtime::Published, ::schemactl_runtime::PublishError> {
                    self.publisher.publish(payload, ctx).await
                }

                #[doc = #send_doc]
                #deprecated
                pub async fn #send(
                    &self,
                    payload: &#payload,
                    ctx: &::schemactl_runtime::PublishContext,
                ) -> ::core::result::Result<::schemactl_runtime::PendingConfirm, ::schemactl_runtime::PublishError> {
                    self.publisher.send(payload, ctx).await
                }
            }
        });
        let outbox = catalog.config.generate.outbox.then(|| outbox_writer(catalog, s));
        quote! {
            #doc
            #[derive(Debug, Clone)]
            pub struct #ty {
                publisher: ::schemactl_runtime::Publisher,
            }

            impl #ty {
                /// The producing service, the envelope's `sourceService`.
                pub const SERVICE: &'static str = #name;

                /// Wraps a publisher; configure it with [`super::publisher_config`] for the
                /// catalog's envelope profile.
                pub fn new(publisher: ::schemactl_runtime::Publisher) -> Self {
                    Self { publisher }
                }

                /// The underlying publisher.
                pub fn publisher(&self) -> &::schemactl_runtime::Publisher {
                    &self.publisher
                }

                #(#methods)*
            }

            #outbox
        }
    });
    quote!(#(#items)*)
}

/// A producing service's outbox writer: per event version a method that writes the event
/// into the outbox inside the caller's transaction.
fn outbox_writer(catalog: &Catalog, s: &Service) -> TokenStream {
    let ty = format_ident!("{}", s.rust.outbox());
    let name = &s.name;
    let doc = format!(
        " Writes the events of `{name}` into a transactional outbox, inside the caller's \
         transaction; a [`Relay`](::schemactl_runtime::outbox::Relay) publishes them once it \
         commits."
    );
    let methods = versions(catalog, &s.produces).into_iter().map(|v| {
        let method = format_ident!("{}", v.rust.method);
        let payload = payload_path(v);
        let deprecated = deprecation(v);
        let doc = format!(
            " Writes `{}` into the outbox in `tx`: published to `{}` with routing key `{}` \
             after `tx` commits, never if it rolls back.",
            v.message_type, v.exchange, v.routing_key
        );
        quote! {
            #[doc = #doc]
            #deprecated
            pub async fn #method(
                &self,
                tx: &::schemactl_runtime::outbox::Transaction<'_>,
                payload: &#payload,
                ctx: &::schemactl_runtime::PublishContext,
            ) -> ::core::result::Result<::schemactl_runtime::outbox::Staged, ::schemactl_runtime::outbox::OutboxError> {
                self.outbox.write(tx, payload, ctx).await
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        pub struct #ty {
            outbox: ::schemactl_runtime::outbox::Outbox,
        }

        impl #ty {
            /// The producing service, the envelope's `sourceService`.
            pub const SERVICE: &'static str = #name;

            /// Wraps an outbox; create it with [`super::publisher_config`] so that rows hold
            /// the catalog's dialects.
            pub fn new(outbox: ::schemactl_runtime::outbox::Outbox) -> Self {
                Self { outbox }
            }

            /// The underlying outbox.
            pub fn outbox(&self) -> &::schemactl_runtime::outbox::Outbox {
                &self.outbox
            }

            #(#methods)*
        }
    }
}

/// `consumers.rs`: per consuming service a handler trait and the dispatch that binds it to
/// the service's queue.
pub fn consumers(catalog: &Catalog) -> TokenStream {
    let items = catalog.services.values().filter(|s| !s.consumes.is_empty()).map(|s| {
        let ty = format_ident!("{}", s.rust.type_name);
        let handler = format_ident!("{}", s.rust.handler());
        let name = &s.name;
        let queue = crate::topology::service_queue(catalog, &s.name);
        let handled = versions(catalog, &s.consumes);
        let trait_doc = service_doc(s, "Handles the events consumed by");
        let methods = handled.iter().map(|v| {
            let method = format_ident!("{}", v.rust.method);
            let payload = payload_path(v);
            let doc = format!(
                " `{}` from `{}` (routing key `{}`). Return [`HandlerError::retryable`](::schemactl_runtime::HandlerError::retryable) \
                 to retry with backoff, [`HandlerError::permanent`](::schemactl_runtime::HandlerError::permanent) to dead-letter it.",
                v.message_type, v.exchange, v.routing_key
            );
            quote! {
                #[doc = #doc]
                fn #method(
                    &self,
                    message: ::schemactl_runtime::Received<#payload>,
                ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::schemactl_runtime::HandlerError>> + Send;
            }
        });
        let infos = handled.iter().map(|v| {
            let payload = payload_path(v);
            quote!(::schemactl_runtime::EventInfo::of::<#payload>())
        });
        let arms = handled.iter().map(|v| {
            let method = format_ident!("{}", v.rust.method);
            let constant = format_ident!("{}", v.rust.constant);
            quote! {
                super::message_types::#constant => {
                    Ok(self.handler.#method(message.decode()?).await?)
                }
            }
        });
        let uniform = handled.iter().map(|v| {
            let method = format_ident!("{}", v.rust.method);
            let payload = payload_path(v);
            quote! {
                fn #method(
                    &self,
                    message: ::schemactl_runtime::Received<#payload>,
                ) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::schemactl_runtime::HandlerError>> + Send {
                    self.0.handle(message)
                }
            }
        });
        let dispatch_doc = format!(
            " The dispatch of `{name}`: decodes each message of its queue by `messageType` and \
             calls the [`{handler}`] method for it."
        );
        quote! {
            #trait_doc
            pub trait #handler: Send + Sync + 'static {
                #(#methods)*
            }

            impl<T: ::schemactl_runtime::EventHandler> #handler for ::schemactl_runtime::Uniform<T> {
                #(#uniform)*
            }

            #[doc = #dispatch_doc]
            pub struct #ty<H> {
                handler: H,
            }

            impl<H: #handler> #ty<H> {
                /// The service's queue (before any prefix).
                pub const QUEUE: &'static str = #queue;

                /// Binds `handler` to the service's queue.
                pub fn new(handler: H) -> Self {
                    Self { handler }
                }

                /// The handler.
                pub fn handler(&self) -> &H {
                    &self.handler
                }

                /// Declares the catalog's topology and consumes the service's queue on the
                /// broker at `url`, until [`ConsumerHandle::shutdown`](::schemactl_runtime::ConsumerHandle::shutdown).
                pub async fn consume(
                    self,
                    url: &str,
                    config: ::schemactl_runtime::ConsumerConfig,
                ) -> ::core::result::Result<::schemactl_runtime::ConsumerHandle, ::schemactl_runtime::ConsumeError> {
                    ::schemactl_runtime::consumer::start(url, &super::topology::catalog(), super::wire(), self, config).await
                }
            }

            impl<H: #handler> ::schemactl_runtime::Dispatch for #ty<H> {
                const SERVICE: &'static str = #name;
                const EVENTS: &'static [::schemactl_runtime::EventInfo] = &[#(#infos),*];

                async fn dispatch(
                    &self,
                    message: ::schemactl_runtime::Incoming,
                ) -> ::core::result::Result<(), ::schemactl_runtime::DispatchError> {
                    match message.message_type() {
                        #(#arms)*
                        _ => Err(message.unknown()),
                    }
                }
            }
        }
    });
    let visits = catalog
        .services
        .values()
        .filter(|s| !s.consumes.is_empty())
        .map(|s| {
            let ty = format_ident!("{}", s.rust.type_name);
            quote!(visitor.visit(#ty::new(::schemactl_runtime::Uniform(handler.clone())));)
        });
    quote! {
        #(#items)*

        /// Calls `visitor.visit` with the dispatch of every consuming service, each bound to a
        /// clone of `handler` (for services that handle every event alike, and for tests).
        pub fn visit_all<T, V>(handler: &T, visitor: &mut V)
        where
            T: ::schemactl_runtime::EventHandler + ::core::clone::Clone,
            V: ::schemactl_runtime::DispatchVisitor,
        {
            #(#visits)*
        }
    }
}

fn string(s: &str) -> TokenStream {
    quote!(::std::string::String::from(#s))
}

fn option_string(s: &Option<String>) -> TokenStream {
    match s {
        Some(s) => {
            let s = string(s);
            quote!(::core::option::Option::Some(#s))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn option_u64(n: Option<u64>) -> TokenStream {
    match n {
        Some(n) => {
            let n = Literal::u64_unsuffixed(n);
            quote!(::core::option::Option::Some(#n))
        }
        None => quote!(::core::option::Option::None),
    }
}

/// `topology.rs`: `catalog()` returns the topology as a value.
pub fn topology(t: &Topology) -> TokenStream {
    let root = quote!(::schemactl_runtime::topology);
    let exchanges = t.exchanges.iter().map(|e| {
        let name = string(&e.name);
        let kind = format_ident!(
            "{}",
            match e.kind {
                ExchangeKind::Topic => "Topic",
                ExchangeKind::Fanout => "Fanout",
                ExchangeKind::Direct => "Direct",
                ExchangeKind::Headers => "Headers",
            }
        );
        let durable = e.durable;
        quote!(#root::Exchange { name: #name, kind: #root::ExchangeKind::#kind, durable: #durable })
    });
    let queues = t.queues.iter().map(|q| {
        let name = string(&q.name);
        let queue_type = format_ident!(
            "{}",
            match q.queue_type {
                QueueType::Classic => "Classic",
                QueueType::Quorum => "Quorum",
            }
        );
        let dlx = option_string(&q.dead_letter_exchange);
        let dlk = option_string(&q.dead_letter_routing_key);
        let ttl = option_u64(q.message_ttl_ms);
        let max_length = option_u64(q.max_length);
        let max_length_bytes = option_u64(q.max_length_bytes);
        let delivery_limit = option_u64(q.delivery_limit);
        let overflow = match q.overflow {
            Some(o) => {
                let variant = format_ident!(
                    "{}",
                    match o {
                        Overflow::DropHead => "DropHead",
                        Overflow::RejectPublish => "RejectPublish",
                        Overflow::RejectPublishDlx => "RejectPublishDlx",
                    }
                );
                quote!(::core::option::Option::Some(#root::Overflow::#variant))
            }
            None => quote!(::core::option::Option::None),
        };
        quote! {
            #root::Queue {
                name: #name,
                queue_type: #root::QueueType::#queue_type,
                dead_letter_exchange: #dlx,
                dead_letter_routing_key: #dlk,
                message_ttl_ms: #ttl,
                max_length: #max_length,
                max_length_bytes: #max_length_bytes,
                overflow: #overflow,
                delivery_limit: #delivery_limit,
            }
        }
    });
    let bindings = t.bindings.iter().map(|b| {
        let (exchange, queue, key) = (
            string(&b.exchange),
            string(&b.queue),
            string(&b.routing_key),
        );
        quote!(#root::Binding { exchange: #exchange, queue: #queue, routing_key: #key })
    });
    let exchange_bindings = t.exchange_bindings.iter().map(|b| {
        let (source, destination, key) = (
            string(&b.source),
            string(&b.destination),
            string(&b.routing_key),
        );
        quote!(#root::ExchangeBinding { source: #source, destination: #destination, routing_key: #key })
    });
    let services = t.services.iter().map(|s| {
        let service = string(&s.service);
        let queue = string(&s.queue);
        let retries = s.retry_queues.iter().map(|r| {
            let q = string(&r.queue);
            let delay = Literal::u64_unsuffixed(r.delay_ms);
            let by = format_ident!(
                "{}",
                match r.delayed_by {
                    RetryDelay::Queue => "Queue",
                    RetryDelay::Consumer => "Consumer",
                }
            );
            quote!(#root::RetryQueue { queue: #q, delay_ms: #delay, delayed_by: #root::RetryDelay::#by })
        });
        let dlx = string(&s.dead_letter_exchange);
        let dlk = string(&s.dead_letter_routing_key);
        let dlq = string(&s.dead_letter_queue);
        let types = s.message_types.iter().map(|m| string(m));
        quote! {
            #root::ServiceQueue {
                service: #service,
                queue: #queue,
                retry_queues: ::std::vec![#(#retries),*],
                dead_letter_exchange: #dlx,
                dead_letter_routing_key: #dlk,
                dead_letter_queue: #dlq,
                message_types: ::std::vec![#(#types),*],
            }
        }
    });
    quote! {
        /// The exchanges, queues (with their retry and dead-letter queues) and bindings the
        /// catalog implies. Declare it with
        /// [`Topology::declare`](::schemactl_runtime::Topology::declare); export it with
        /// `schemactl topology --format rabbitmq-definitions`.
        pub fn catalog() -> #root::Topology {
            #root::Topology {
                exchanges: ::std::vec![#(#exchanges),*],
                queues: ::std::vec![#(#queues),*],
                bindings: ::std::vec![#(#bindings),*],
                exchange_bindings: ::std::vec![#(#exchange_bindings),*],
                services: ::std::vec![#(#services),*],
            }
        }
    }
}
