//! Stream imports between accounts: a message published in the exporting
//! account on a subject another account imports is also delivered to that
//! account's subscribers, under the subject the import maps it to
//! (`prefix`, or `to` for a literal import). Compiled once from the plan;
//! a publisher of an account that exports nothing pays nothing.
//!
//! Service imports (request/reply across accounts with reply mapping) are
//! in [`super::services`].

use super::subject::{filter_matches, is_valid_literal};
use super::sublist::SharedSublist;
use crate::plan::auth::{Accounts, ExportKind, ImportLocal};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// One account's import of another's stream.
#[derive(Debug)]
pub struct StreamImport<S> {
    /// The imported subjects, as exported (a filter).
    filter: Box<[u8]>,
    /// The importing account's subscriptions.
    pub into: Arc<SharedSublist<S>>,
    /// How the subject is renamed in the importing account.
    local: Option<ImportLocal>,
}

impl<S> StreamImport<S> {
    /// The subject a message on `subject` gets in the importing account,
    /// if the import covers it.
    pub fn map<'a>(&self, subject: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        if !filter_matches(&self.filter, subject) {
            return None;
        }
        Some(match &self.local {
            None => Cow::Borrowed(subject),
            Some(ImportLocal::Prefix(p)) => {
                let mut s = Vec::with_capacity(p.len() + 1 + subject.len());
                s.extend_from_slice(p.as_bytes());
                s.push(b'.');
                s.extend_from_slice(subject);
                Cow::Owned(s)
            }
            Some(ImportLocal::To(t)) if is_valid_literal(&*self.filter) => {
                Cow::Owned(t.as_bytes().to_vec())
            }
            Some(ImportLocal::To(_)) => Cow::Borrowed(subject),
        })
    }
}

/// The stream imports of every account, by the account they import from.
pub type StreamImports<S> = HashMap<Arc<str>, Arc<Vec<StreamImport<S>>>>;

/// Compiles the plan's stream imports that an export of the source
/// account allows ([`Accounts::authorizes`]; lowering refuses the others,
/// so a plan from a file has none: they would be logged and left out).
pub fn compile<S>(
    accounts: &Accounts,
    sublists: &HashMap<Arc<str>, Arc<SharedSublist<S>>>,
) -> StreamImports<S> {
    let mut out: HashMap<Arc<str>, Vec<StreamImport<S>>> = HashMap::new();
    for importer in &accounts.list {
        let Some(into) = sublists.get(importer.name.as_str()) else {
            continue;
        };
        for import in importer
            .imports
            .iter()
            .filter(|i| i.kind == ExportKind::Stream)
        {
            if !accounts.authorizes(&importer.name, import) {
                crate::log_warn!(
                    "Account {}: stream import of {:?} from {} is not exported to it; ignored",
                    importer.name,
                    import.subject,
                    import.account
                );
                continue;
            }
            out.entry(Arc::from(import.account.as_str()))
                .or_default()
                .push(StreamImport {
                    filter: import.subject.as_bytes().into(),
                    into: Arc::clone(into),
                    local: import.local.clone(),
                });
        }
    }
    out.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()
}
