//! Configuration from environment variables, one way for every function.
//!
//! [`Env`] reads through a lookup function, so tests pass a map instead of touching the process
//! environment. A blank value counts as unset. Readers collect problems instead of stopping at
//! the first, and [`Env::finish`] reports them all at once.

use std::fmt::Display;
use std::str::FromStr;

/// What is wrong with a function's environment: every missing variable and every invalid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.missing, .invalid))]
pub struct EnvError {
    /// Required variables that are unset or blank.
    pub missing: Vec<&'static str>,
    /// `(name, value, why)` of variables that are set but unusable.
    pub invalid: Vec<(&'static str, String, String)>,
}

fn describe(missing: &[&'static str], invalid: &[(&'static str, String, String)]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing required environment variables: {}", missing.join(", ")));
    }
    for (name, value, reason) in invalid {
        parts.push(format!("environment variable {name} = {value:?} is invalid: {reason}"));
    }
    parts.join("; ")
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// A reader of environment variables that remembers what it could not read.
pub struct Env<'a> {
    lookup: Lookup<'a>,
    problems: EnvError,
}

impl Env<'static> {
    /// The process environment.
    pub fn process() -> Self {
        Env::from_lookup(|name| std::env::var(name).ok())
    }
}

impl<'a> Env<'a> {
    /// Any source of variables: a map in tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Env { lookup: Box::new(lookup), problems: EnvError { missing: Vec::new(), invalid: Vec::new() } }
    }

    /// A fixed set of variables, for tests of a function's configuration.
    #[cfg(any(test, feature = "testing"))]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env<'static> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Env::from_lookup(move |name| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()))
    }

    /// The variable's value, trimmed; `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    /// The variable's value; an empty string (and a recorded problem) when it is missing.
    pub fn required(&mut self, name: &'static str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problems.missing.push(name);
            String::new()
        })
    }

    /// The variable parsed as `T`, or `default` when unset. An unparsable value is recorded and
    /// `default` returned, so reading can go on and report everything.
    pub fn parsed_or<T>(&mut self, name: &'static str, default: T) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        self.parsed_with(name, default, |text| text.parse::<T>().map_err(|error| error.to_string()))
    }

    /// Like [`Env::parsed_or`] with a parser of the caller's (extra rules: at least 1, a list).
    pub fn parsed_with<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let Some(text) = self.optional(name) else {
            return default;
        };
        match parse(&text) {
            Ok(value) => value,
            Err(reason) => {
                self.problems.invalid.push((name, text, reason));
                default
            }
        }
    }

    /// `Ok(value)` when every read succeeded, else every problem at once.
    pub fn finish<T>(self, value: T) -> Result<T, EnvError> {
        if self.problems.missing.is_empty() && self.problems.invalid.is_empty() {
            Ok(value)
        } else {
            Err(self.problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_missing_and_invalid_variable_at_once() {
        let mut env = Env::from_pairs(&[("A", " a "), ("B", "  "), ("N", "x"), ("M", "7")]);
        let a = env.required("A");
        let b = env.required("B");
        let c = env.required("C");
        let n: u32 = env.parsed_or("N", 5);
        let m: u32 = env.parsed_or("M", 5);
        let d: u32 = env.parsed_or("D", 5);
        assert_eq!((a.as_str(), b.as_str(), c.as_str(), n, m, d), ("a", "", "", 5, 7, 5));
        let error = env.finish(()).unwrap_err();
        assert_eq!(error.missing, vec!["B", "C"]);
        assert_eq!(error.invalid, vec![("N", "x".to_owned(), "invalid digit found in string".to_owned())]);
        assert_eq!(
            error.to_string(),
            "missing required environment variables: B, C; \
             environment variable N = \"x\" is invalid: invalid digit found in string"
        );
    }

    #[test]
    fn a_complete_environment_gives_the_value() {
        let mut env = Env::from_pairs(&[("A", "a")]);
        let at_least_one = env.parsed_with("K", 3u32, |text| match text.parse::<u32>() {
            Ok(0) => Err("must be at least 1".to_owned()),
            other => other.map_err(|error| error.to_string()),
        });
        let a = env.required("A");
        assert_eq!(env.finish((a, at_least_one)), Ok(("a".to_owned(), 3)));
    }
}
