//! `runtime.cores`: a list of core numbers or the word `"all"`.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Which cores get a shard each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cores {
    /// Every core this process may run on (its CPU affinity), in ascending order.
    All,
    /// These cores, in this order: shard `i` runs on the `i`-th.
    List(Vec<u16>),
}

impl<'de> Deserialize<'de> for Cores {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CoresVisitor)
    }
}

struct CoresVisitor;

impl<'de> Visitor<'de> for CoresVisitor {
    type Value = Cores;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("\"all\" or a list of core numbers such as [0, 1]")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Cores, E> {
        if text == "all" {
            Ok(Cores::All)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(text), &self))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cores, A::Error> {
        let mut cores = Vec::new();
        while let Some(core) = seq.next_element::<u16>()? {
            cores.push(core);
        }
        Ok(Cores::List(cores))
    }
}
