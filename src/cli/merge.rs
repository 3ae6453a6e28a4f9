//! `postdeploy merge --out DIR SHARD_DIR...`: see [`crate::app::merge`].

use super::args::MergeArgs;
use crate::app::merge::MergeOptions;
use crate::error::Error;
use crate::exit::Exit;

pub async fn run(a: MergeArgs) -> Result<Exit, Error> {
    let opts = MergeOptions {
        shards: a.shards,
        out: a.out,
        slos: a.slos,
        history: a.history.history,
        no_history: a.history.no_history,
        env: a.history.env,
        gate: (&a.gate).into(),
    };
    let mut console = crate::report::console::Console::new(super::stdout(), false);
    crate::app::merge::run(&opts, &mut console, &mut std::io::stderr()).await
}
