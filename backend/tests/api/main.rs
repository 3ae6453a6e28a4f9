//! Backend integration tests over real sockets (server bound to 127.0.0.1:0).
//! PostgreSQL tests need a server reachable at `TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`, trust auth).

mod support;

mod contract;
mod fuzz;
mod lab;
mod metrics;
mod oneshot;
mod outage;
mod startup;
