//! The server half's composition root: the command line, serving, the HTTP router, demo data.
//! Nothing here is compiled into the browser bundle, and nothing else imports from here.

pub mod cli;
pub mod demo;
pub mod listen;
pub mod routes;
pub mod serve;
