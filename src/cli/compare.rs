//! `postdeploy compare BASE CURRENT`: see [`crate::app::compare`].

use super::args::CompareArgs;
use crate::app::compare::CompareOptions;
use crate::error::Error;
use crate::exit::Exit;

pub async fn run(a: CompareArgs) -> Result<Exit, Error> {
    let opts = CompareOptions {
        base: a.base,
        current: a.current,
        history: a.history,
        judge: (&a.judge).into(),
        junit: a.junit,
        json: a.json,
    };
    crate::app::compare::run(&opts, &mut super::stdout()).await
}
