//! The top level of the file: NATS options, logging, monitoring, and the
//! dispatch to the other blocks.

use super::{proxy, Block, Lowering};
use crate::config::source::Pos;
use crate::config::tree::Map;
use crate::plan::{FilesPlan, LameDuck, LogPlan, MonitorPlan, Plan};

/// Lowers the whole file.
pub fn lower_top(cx: &mut Lowering, tree: &Map) -> Plan {
    let mut top = Block::new(tree, Pos::default(), "the top level");
    let proxies = top
        .get(cx, &["proxy"])
        .map(|n| proxy::lower_proxies(cx, n))
        .unwrap_or_default();
    top.finish(cx);
    Plan {
        nats: None,
        monitor: MonitorPlan::default(),
        log: LogPlan::default(),
        files: FilesPlan::default(),
        lame_duck: LameDuck::default(),
        proxies,
    }
}
