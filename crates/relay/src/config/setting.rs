//! Settings named as an operator types them, read from clap's own metadata: a message can then
//! never name a flag or a variable that does not exist, nor miss a rename.
//!
//! Values are refused inside clap, by the value parsers wrapped in [`named`]: they see the
//! [`Arg`] being parsed, so their error names both the flag and its variable. clap's own
//! invalid-value error names only the flag, which misleads an operator who set the value through
//! the environment. Mapping clap's error at the binary's edge instead would find only that
//! flag's rendering there, and would have to be repeated by every caller of the parsers (the
//! subcommands and the tests); the parser itself has the metadata at hand.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Args, Command};

/// A setting that is missing or wrong, named as the operator would type it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

impl ConfigError {
    /// The setting `id` (a field name) of the group `A`, or of a group it flattens, refused.
    pub fn of<A: Args>(id: &str, problem: impl Into<String>) -> Self {
        ConfigError {
            setting: name_of::<A>(id),
            problem: problem.into(),
        }
    }

    /// The error clap reports, which keeps the setting and the problem apart for
    /// [`ConfigError::from_clap`].
    fn into_clap(self, command: &Command) -> clap::Error {
        let mut error =
            clap::Error::raw(ErrorKind::ValueValidation, format!("{self}\n")).with_cmd(command);
        error.insert(ContextKind::InvalidArg, ContextValue::String(self.setting));
        error.insert(ContextKind::Custom, ContextValue::String(self.problem));
        error
    }

    /// The refusal of a value parser wrapped in [`named`]; `None` for any other clap error.
    pub fn from_clap(error: &clap::Error) -> Option<Self> {
        match (
            error.get(ContextKind::InvalidArg),
            error.get(ContextKind::Custom),
        ) {
            (Some(ContextValue::String(setting)), Some(ContextValue::String(problem))) => {
                Some(ConfigError {
                    setting: setting.clone(),
                    problem: problem.clone(),
                })
            }
            _ => None,
        }
    }
}

/// `--long-name / ENV_NAME` of the setting `id` of the group `A`.
///
/// # Panics
/// When `A` has no such setting: a typo in the code, which the tests of each message catch.
pub fn name_of<A: Args>(id: &str) -> String {
    let command = A::augment_args(Command::new("ordersync-relay"));
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_id() == id)
        .unwrap_or_else(|| panic!("{id:?} is not a setting of this group"));
    name(arg)
}

/// How an operator sets `arg`: its flag and its variable, whichever it has.
fn name(arg: &Arg) -> String {
    let flag = arg.get_long().map(|long| format!("--{long}"));
    let variable = arg.get_env().map(|env| env.to_string_lossy().into_owned());
    match (flag, variable) {
        (Some(flag), Some(variable)) => format!("{flag} / {variable}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => arg.get_id().to_string(),
    }
}

/// `parser`, whose refusals name the setting by its flag and its variable.
pub fn named<P: TypedValueParser>(parser: P) -> Named<P> {
    Named(parser)
}

/// See [`named`].
#[derive(Debug, Clone)]
pub struct Named<P>(P);

impl<P: TypedValueParser> TypedValueParser for Named<P> {
    type Value = P::Value;

    fn parse_ref(
        &self,
        command: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        self.0.parse_ref(command, arg, value).map_err(|refused| {
            let problem = self.problem(&refused);
            refusal(arg, value, problem).into_clap(command)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        self.0.possible_values()
    }
}

impl<P: TypedValueParser> Named<P> {
    /// What the inner parser found wrong: its own reason, else the values it takes.
    fn problem(&self, refused: &clap::Error) -> String {
        if let Some(reason) = std::error::Error::source(refused) {
            return reason.to_string();
        }
        if let Some(values) = self.0.possible_values() {
            let shown: Vec<String> = values
                .filter(|value| !value.is_hide_set())
                .map(|value| value.get_name().to_owned())
                .collect();
            return format!("must be one of: {}", shown.join(", "));
        }
        refused.kind().as_str().unwrap_or("is not valid").to_owned()
    }
}

/// The setting `arg` refused for `problem`. The value is quoted unless it is a secret (its
/// variable's value is hidden from `--help`): a database URL may hold a password, a key is one.
fn refusal(arg: Option<&Arg>, value: &OsStr, problem: String) -> ConfigError {
    let Some(arg) = arg else {
        return ConfigError {
            setting: "a setting".to_owned(),
            problem,
        };
    };
    let problem = if arg.is_hide_env_values_set() {
        problem
    } else {
        format!("invalid value '{}': {problem}", value.to_string_lossy())
    };
    ConfigError {
        setting: name(arg),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Example {
        #[arg(long, env = "EXAMPLE_COUNT", value_parser = named(str::parse::<u8>))]
        count: Option<u8>,
        #[arg(long, env = "EXAMPLE_KEY", hide_env_values = true, value_parser = named(str::parse::<u8>))]
        key: Option<u8>,
        #[arg(long)]
        flag_only: bool,
    }

    #[test]
    fn a_setting_is_named_by_its_flag_and_its_variable() {
        assert_eq!(name_of::<Example>("count"), "--count / EXAMPLE_COUNT");
        assert_eq!(name_of::<Example>("flag_only"), "--flag-only");
    }

    #[test]
    #[should_panic(expected = "is not a setting")]
    fn a_typo_in_an_id_fails() {
        name_of::<Example>("cuont");
    }

    #[test]
    fn a_refused_value_names_flag_and_variable_and_hides_secrets() {
        use clap::Parser;
        let refused = Example::try_parse_from(["x", "--count", "300"]).unwrap_err();
        let error = ConfigError::from_clap(&refused).unwrap();
        assert_eq!(error.setting, "--count / EXAMPLE_COUNT");
        assert!(error.problem.contains("'300'"), "{error}");
        assert!(refused.to_string().contains("--count / EXAMPLE_COUNT"));
        let refused = Example::try_parse_from(["x", "--key", "999"]).unwrap_err();
        assert!(!refused.to_string().contains("999"), "{refused}");
        assert!(refused.to_string().contains("--key / EXAMPLE_KEY"));
    }
}
