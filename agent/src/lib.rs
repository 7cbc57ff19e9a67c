//! certfleet agent library: certificate discovery on a PC (and, later, reporting).
#![forbid(unsafe_code)]
