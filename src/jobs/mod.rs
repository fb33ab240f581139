pub mod purge;
