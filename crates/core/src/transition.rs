//! State machines as data: each status enum lists its legal transitions in one table,
//! and every state change anywhere in paydesk goes through [`StateMachine::transition`]
//! (in memory) and a conditional update on the expected status (in the store).

use std::fmt;

/// A closed set of states with an explicit table of legal transitions.
pub trait StateMachine: Copy + Eq + fmt::Debug + 'static {
    /// Every state.
    const ALL: &'static [Self];
    /// Every legal `(from, to)` pair. Anything not listed is illegal.
    const TRANSITIONS: &'static [(Self, Self)];

    /// The stable upper-case name stored in databases and shown in APIs.
    fn as_str(self) -> &'static str;

    /// Whether `self -> to` is in the table.
    fn can_transition(self, to: Self) -> bool {
        Self::TRANSITIONS.iter().any(|&(f, t)| f == self && t == to)
    }

    /// `Ok(to)` when the table allows it, else the refused pair.
    fn transition(self, to: Self) -> Result<Self, IllegalTransition> {
        if self.can_transition(to) {
            Ok(to)
        } else {
            Err(IllegalTransition {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }

    /// Whether no transition leaves this state.
    fn is_terminal(self) -> bool {
        !Self::TRANSITIONS.iter().any(|&(f, _)| f == self)
    }

    /// Parses the stable name back.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|st| st.as_str() == s)
    }
}

/// A refused state change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal transition {from} -> {to}")]
pub struct IllegalTransition {
    /// The current state.
    pub from: &'static str,
    /// The requested state.
    pub to: &'static str,
}

/// Test helper shared by the state-machine modules: asserts that exactly the listed
/// pairs are legal over the full cross product of states.
#[cfg(test)]
pub(crate) fn assert_table_is_exact<S: StateMachine>(expected_legal: &[(S, S)]) {
    for &from in S::ALL {
        for &to in S::ALL {
            let legal = expected_legal.contains(&(from, to));
            assert_eq!(
                from.transition(to).is_ok(),
                legal,
                "{from:?} -> {to:?} should be {}",
                if legal { "legal" } else { "refused" }
            );
        }
        assert_eq!(S::parse(from.as_str()), Some(from));
    }
}
