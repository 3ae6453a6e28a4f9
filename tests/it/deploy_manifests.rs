//! The deployment files users apply work as written, as far as can be told
//! without a cluster or a Docker daemon:
//!
//! - every Kubernetes manifest in `deploy/kubernetes/` passes
//!   `kubernetes-validate --strict` (unknown fields fail) against
//!   Kubernetes 1.29, the oldest the Jobs need, and 1.37, the newest the
//!   validator knows; broken manifests are rejected, so it really runs;
//! - `kustomization.yaml` (not a Kubernetes resource) names only files that
//!   exist, its scenario copies are the repository's `scenarios/`, and what
//!   it renders (`kubectl kustomize`, offline) validates too;
//! - the Jobs agree with each other, with the volume, with the image and
//!   with postdeploy's command line, and the shard's command line, run by
//!   the real binary in the pod's file layout, writes only its reports;
//! - every Dockerfile passes hadolint (and a broken one does not), and the
//!   image's build context holds what the build reads.
//!
//! Nothing here starts Kubernetes or Docker, and no image is built.
//! `scripts/test` installs the tools (kubernetes-validate, kubectl,
//! hadolint; `scripts/ci-tools`, pinned) and puts them on PATH.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const KUBE_DIR: &str = "deploy/kubernetes";

/// The oldest Kubernetes we claim (`podFailurePolicy` rules on pod
/// conditions need an explicit `status` before 1.31) and the newest
/// kubernetes-validate knows.
const KUBE_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];

/// `postdeploy load` flags of sharded runs, used by `job-shards.yaml`
/// before postdeploy has them. Once `--shards` exists, every one of them
/// must (a mismatch is then a test failure, not a pod that exits 2).
const PENDING_LOAD_FLAGS: &[&str] = &["--shards", "--start-at", "--max-skew"];

/// Runs a linter from PATH in the repository root; a missing one fails with
/// how to get it.
fn run(tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(support::root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`{tool}` is not on PATH ({e}): run the tests through scripts/test, or put \
                 `$(scripts/ci-tools)` on PATH first"
            )
        })
}

fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(support::root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every Kubernetes manifest: the `*.yaml` of `deploy/kubernetes/` but
/// `kustomization.yaml` (scenarios/ below it holds scenario files).
fn manifests() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(support::root().join(KUBE_DIR))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "kustomization.yaml")
        .map(|n| format!("{KUBE_DIR}/{n}"))
        .collect();
    out.sort();
    out
}

fn kubernetes_validate(version: &str, files: &[String], strict: bool) -> Output {
    let mut args = vec!["-k", version];
    if strict {
        args.push("--strict");
    }
    args.extend(files.iter().map(String::as_str));
    run("kubernetes-validate", &args)
}

#[test]
fn every_manifest_passes_strict_validation_on_the_oldest_and_newest_kubernetes() {
    let files = manifests();
    for expected in [
        "namespace.yaml",
        "pvc.yaml",
        "job-shards.yaml",
        "job-merge.yaml",
        "reports-reader.yaml",
    ] {
        assert!(
            files.contains(&format!("{KUBE_DIR}/{expected}")),
            "{expected} missing from {files:?}"
        );
    }
    for v in KUBE_VERSIONS {
        let o = kubernetes_validate(v, &files, true);
        let text = output_text(&o);
        assert!(o.status.success(), "kubernetes-validate -k {v}:\n{text}");
        // An unknown kind (a typo in apiVersion or kind) only warns, with
        // exit 0: every file must have been checked against a schema.
        assert!(
            !text.contains("WARN"),
            "kubernetes-validate -k {v}:\n{text}"
        );
        let minor = v.rsplit_once('.').unwrap().0;
        for f in &files {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("INFO {f} passed"))
                        && l.ends_with(&format!("against version {minor}"))),
                "{f} was not validated against {minor}:\n{text}"
            );
        }
    }
}

#[test]
fn a_broken_manifest_is_rejected() {
    let unknown = "tests/fixtures/kubernetes/job-unknown-field.yaml".to_string();
    let o = kubernetes_validate("1.37.0", std::slice::from_ref(&unknown), true);
    let text = output_text(&o);
    assert!(
        !o.status.success() && text.contains("'backofLimitPerIndex' was unexpected"),
        "strict validation let a misspelt field through:\n{text}"
    );
    // What --strict buys: without it the misspelling passes.
    let o = kubernetes_validate("1.37.0", std::slice::from_ref(&unknown), false);
    assert!(o.status.success(), "{}", output_text(&o));

    // The oldest version's own schema is used: a pattern without `status`
    // is valid since 1.31, invalid before.
    let no_status = "tests/fixtures/kubernetes/job-condition-without-status.yaml".to_string();
    let o = kubernetes_validate("1.29.0", std::slice::from_ref(&no_status), true);
    let text = output_text(&o);
    assert!(
        !o.status.success() && text.contains("'status' is a required property"),
        "1.29 accepted a pod-condition pattern without status:\n{text}"
    );
    let o = kubernetes_validate("1.37.0", std::slice::from_ref(&no_status), true);
    assert!(o.status.success(), "{}", output_text(&o));
}

/// What `kubectl apply -k deploy/kubernetes` sends: kubectl's built-in
/// kustomize renders it (offline), and the result is validated like the
/// files, with the generated ConfigMap, the image and the namespace applied.
#[test]
fn the_kustomization_renders_valid_resources_with_its_generator_and_image_applied() {
    let o = run("kubectl", &["kustomize", KUBE_DIR]);
    assert!(
        o.status.success(),
        "kubectl kustomize:\n{}",
        output_text(&o)
    );
    let rendered = String::from_utf8(o.stdout).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let file = file.to_str().unwrap().to_string();

    let docs: Vec<Value> = rendered
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}:\n{d}")))
        .collect();
    let id = |d: &Value| {
        format!(
            "{}/{}",
            d["kind"].as_str().unwrap().to_lowercase(),
            d["metadata"]["name"].as_str().unwrap()
        )
    };
    let ids: BTreeSet<String> = docs.iter().map(id).collect();
    for v in KUBE_VERSIONS {
        let o = kubernetes_validate(v, std::slice::from_ref(&file), true);
        let text = output_text(&o);
        assert!(
            o.status.success() && !text.contains("WARN"),
            "-k {v}:\n{text}"
        );
        for r in &ids {
            assert!(
                text.contains(&format!("passed for resource {r} against")),
                "{r} was not validated:\n{text}"
            );
        }
    }

    let k = yaml(&format!("{KUBE_DIR}/kustomization.yaml"));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from(["Namespace", "ConfigMap", "PersistentVolumeClaim", "Job"])
    );
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(d["metadata"]["namespace"], k["namespace"], "{}", id(d));
    }

    // The generated ConfigMap: the repository's scenarios, under a
    // content-hashed name that both Jobs mount; the per-run ConfigMap the
    // launching command creates keeps its plain name.
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let cm_name = cm["metadata"]["name"].as_str().unwrap();
    assert!(cm_name.starts_with("postdeploy-scenarios-"), "{cm_name}");
    let data = cm["data"].as_object().unwrap();
    let scenarios_dir = support::root().join("scenarios");
    assert_eq!(
        data.keys().cloned().collect::<BTreeSet<_>>(),
        yaml_names(&scenarios_dir)
    );
    for (name, text) in data {
        assert_eq!(
            text.as_str().unwrap(),
            std::fs::read_to_string(scenarios_dir.join(name)).unwrap(),
            "{name}"
        );
    }
    let image = &k["images"][0];
    let want_image = format!(
        "{}:{}",
        image["newName"].as_str().unwrap(),
        image["newTag"].as_str().unwrap()
    );
    let jobs: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Job").collect();
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        let pod = &job["spec"]["template"]["spec"];
        assert!(
            pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["configMap"]["name"] == cm_name),
            "{} does not mount {cm_name}",
            id(job)
        );
        let c = container(job);
        assert_eq!(c["image"], want_image.as_str(), "{}", id(job));
        for e in c["env"].as_array().unwrap() {
            let r = &e["valueFrom"]["configMapKeyRef"]["name"];
            assert!(r.is_null() || r == "postdeploy-run", "{}: {r}", id(job));
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn yaml_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect()
}

#[test]
fn the_kustomization_names_existing_files_and_its_scenarios_are_the_repositorys() {
    let root = support::root();
    let dir = root.join(KUBE_DIR);
    let k = yaml(&format!("{KUBE_DIR}/kustomization.yaml"));
    assert_eq!(k["kind"], "Kustomization");

    // Every resource is a file here (kustomize's default load restrictor
    // refuses anything outside this directory) and a validated manifest.
    let resources = strings(&k["resources"]);
    for r in &resources {
        assert!(!r.contains(".."), "{r}: outside the kustomization root");
        assert!(dir.join(r).is_file(), "resource {r} does not exist");
        assert!(manifests().contains(&format!("{KUBE_DIR}/{r}")), "{r}");
    }
    // Every manifest but the reports reader (applied on its own) is in it.
    for m in manifests() {
        let name = m.rsplit('/').next().unwrap();
        assert!(
            name == "reports-reader.yaml" || resources.iter().any(|r| r == name),
            "{m} is not a resource of the kustomization"
        );
    }

    let generators = k["configMapGenerator"].as_array().unwrap();
    let scenarios = generators
        .iter()
        .find(|g| g["name"] == "postdeploy-scenarios")
        .expect("the scenarios ConfigMap generator");
    let files = strings(&scenarios["files"]);
    for g in generators {
        for f in strings(&g["files"]) {
            assert!(!f.contains(".."), "{f}: outside the kustomization root");
            assert!(dir.join(&f).is_file(), "generator file {f} does not exist");
        }
    }

    // The copies are exactly the repository's scenarios, all of them.
    let repo: BTreeSet<String> = yaml_names(&root.join("scenarios"));
    let listed: BTreeSet<String> = files
        .iter()
        .map(|f| f.strip_prefix("scenarios/").expect(f).to_string())
        .collect();
    let copies = yaml_names(&dir.join("scenarios"));
    assert_eq!(
        listed, repo,
        "the generator's files are not scenarios/*.yaml"
    );
    assert_eq!(copies, repo, "{KUBE_DIR}/scenarios/ holds other files");
    for name in &repo {
        assert!(
            std::fs::read(root.join("scenarios").join(name)).unwrap()
                == std::fs::read(dir.join("scenarios").join(name)).unwrap(),
            "{KUBE_DIR}/scenarios/{name} differs from scenarios/{name}: \
             cp scenarios/*.yaml {KUBE_DIR}/scenarios/"
        );
    }

    // The image setting applies to both Jobs' containers.
    let images = k["images"].as_array().unwrap();
    for job in ["job-shards.yaml", "job-merge.yaml"] {
        let job_yaml = yaml(&format!("{KUBE_DIR}/{job}"));
        let c = container(&job_yaml);
        assert!(
            images.iter().any(|i| i["name"] == c["image"]),
            "{job}: image {} is not set by the kustomization",
            c["image"]
        );
    }
}

fn container(job: &Value) -> &Value {
    let cs = job["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(cs.len(), 1, "one container per pod");
    &cs[0]
}

fn args(job: &Value) -> Vec<String> {
    strings(&container(job)["args"])
}

/// `--name=value` → (`--name`, `value`); `--name` → (`--name`, "").
fn flag(arg: &str) -> (&str, &str) {
    arg.split_once('=').unwrap_or((arg, ""))
}

fn flag_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .map(|a| flag(a))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The `$(VAR)` references kubelet expands in an argument.
fn var_refs(arg: &str) -> Vec<&str> {
    arg.match_indices("$(")
        .map(|(i, _)| {
            let rest = &arg[i + 2..];
            &rest[..rest.find(')').expect("unclosed $(")]
        })
        .collect()
}

fn env_names(c: &Value) -> BTreeSet<String> {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// The final stage's WORKDIR of the postdeploy image.
fn image_workdir() -> String {
    read("Dockerfile")
        .lines()
        .filter_map(|l| l.strip_prefix("WORKDIR "))
        .next_back()
        .expect("WORKDIR in Dockerfile")
        .trim()
        .to_string()
}

#[test]
fn the_jobs_agree_with_each_other_the_volume_and_the_image() {
    let shards = yaml(&format!("{KUBE_DIR}/job-shards.yaml"));
    let merge = yaml(&format!("{KUBE_DIR}/job-merge.yaml"));
    let pvc = yaml(&format!("{KUBE_DIR}/pvc.yaml"));
    let ns = yaml(&format!("{KUBE_DIR}/namespace.yaml"));
    let k = yaml(&format!("{KUBE_DIR}/kustomization.yaml"));

    // N three times.
    let s = &shards["spec"];
    let a = args(&shards);
    assert_eq!(a[0], "load");
    assert_eq!(s["completionMode"], "Indexed");
    let n: u64 = flag_value(&a, "--shards")
        .expect("--shards")
        .parse()
        .unwrap();
    assert_eq!(
        s["completions"].as_u64(),
        Some(n),
        "completions != --shards"
    );
    assert_eq!(
        s["parallelism"].as_u64(),
        Some(n),
        "parallelism != --shards"
    );
    assert!(n >= 2, "a sharded run of {n}");

    // No shard is ever retried; any exit but 0 voids the run and fails the
    // whole Job at once.
    assert_eq!(s["backoffLimit"], 0);
    let rules = s["podFailurePolicy"]["rules"].as_array().unwrap();
    let nonzero = rules
        .iter()
        .find(|r| r["action"] == "FailJob" && r["onExitCodes"]["operator"] == "NotIn")
        .unwrap_or_else(|| panic!("no FailJob rule on exit codes NotIn"));
    assert_eq!(nonzero["onExitCodes"]["values"], serde_json::json!([0]));
    assert!(
        rules
            .iter()
            .any(|r| r["action"] == "FailJob"
                && r["onPodConditions"][0]["type"] == "DisruptionTarget"),
        "an evicted shard must fail the Job, not be replaced"
    );
    assert!(
        !rules.iter().any(|r| r["action"] == "Ignore"),
        "Ignore starts a replacement shard"
    );

    // The shards write their reports, not the history, on the volume; the
    // merge reads exactly those directories and writes beside them.
    assert!(
        a.iter().any(|x| x == "--no-history"),
        "shards record history"
    );
    let shard_out = flag_value(&a, "--out").expect("--out");
    assert_eq!(
        shard_out,
        "/reports/$(RUN_ID)/shard-$(JOB_COMPLETION_INDEX)"
    );
    let m = args(&merge);
    assert_eq!(m[0], "merge");
    assert_eq!(flag_value(&m, "--out"), Some("/reports/$(RUN_ID)/merged"));
    let inputs: Vec<&String> = m[1..].iter().filter(|x| !x.starts_with("--")).collect();
    assert_eq!(inputs, ["/reports/$(RUN_ID)/shard-*"]);
    assert!(
        shard_out.starts_with(inputs[0].trim_end_matches('*')),
        "the merge's glob does not match the shards' directories"
    );
    assert_eq!(
        merge["spec"]["suspend"], true,
        "the merge must wait for the shards"
    );
    assert_eq!(
        merge["spec"]["backoffLimit"], 0,
        "a retried merge records twice"
    );

    let ns_name = ns["metadata"]["name"].as_str().unwrap();
    assert_eq!(k["namespace"], ns_name);
    assert!(
        pvc["spec"]["accessModes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "ReadWriteMany"),
        "shards on several nodes share the volume"
    );
    let workdir = image_workdir();
    for (name, job) in [("job-shards.yaml", &shards), ("job-merge.yaml", &merge)] {
        assert_eq!(job["metadata"]["namespace"], ns_name, "{name}");
        let pod = &job["spec"]["template"]["spec"];
        let c = container(job);
        assert_eq!(pod["restartPolicy"], "Never", "{name}");
        assert!(pod["activeDeadlineSeconds"].is_null(), "{name}: on the Job");
        assert!(
            job["spec"]["activeDeadlineSeconds"].as_u64().is_some(),
            "{name}"
        );
        assert!(
            job["spec"]["ttlSecondsAfterFinished"].as_u64().is_some(),
            "{name}"
        );

        // Mounted where the image and the arguments expect them.
        let volume = |mount_path: &str| -> &Value {
            let vm = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["mountPath"] == mount_path)
                .unwrap_or_else(|| panic!("{name}: nothing mounted at {mount_path}"));
            pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == vm["name"])
                .unwrap_or_else(|| panic!("{name}: no volume {}", vm["name"]))
        };
        assert_eq!(
            volume("/reports")["persistentVolumeClaim"]["claimName"],
            pvc["metadata"]["name"],
            "{name}"
        );
        assert_eq!(
            volume(&format!("{workdir}/scenarios"))["configMap"]["name"],
            "postdeploy-scenarios",
            "{name}"
        );
        assert_eq!(c["workingDir"], workdir.as_str(), "{name}");
        assert!(volume("/tmp")["emptyDir"].is_object(), "{name}");

        // Restricted: what the namespace enforces, stated where it is read.
        let psc = &pod["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true, "{name}");
        assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
        for kind in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(c["resources"][kind][r].is_string(), "{name}: {kind}.{r}");
            }
        }
        // SIGTERM: the teardown (30 s by default) and the reports fit in
        // the grace period.
        assert!(
            pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 30,
            "{name}"
        );

        // kubelet leaves an undefined $(VAR) as it is: every one used must
        // be defined (JOB_COMPLETION_INDEX by the Indexed Job).
        let mut defined = env_names(c);
        if job["spec"]["completionMode"] == "Indexed" {
            defined.insert("JOB_COMPLETION_INDEX".into());
        }
        for arg in strings(&c["args"]) {
            for v in var_refs(&arg) {
                assert!(
                    defined.contains(v),
                    "{name}: $({v}) in `{arg}` is not defined"
                );
            }
        }
    }

    // In CI mode a missing target is a usage error, not a run against
    // postdeploy's own embedded backend.
    assert!(
        container(&shards)["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "CI" && e["value"] == "true"),
        "the shards do not set CI=true"
    );

    // Guaranteed QoS for the load generator.
    let r = &container(&shards)["resources"];
    assert_eq!(r["requests"], r["limits"], "shard requests != limits");

    // The deadline covers the lead time, the run and the teardown.
    let duration = humantime::parse_duration(flag_value(&a, "--duration").unwrap()).unwrap();
    let deadline = s["activeDeadlineSeconds"].as_u64().unwrap();
    assert!(
        deadline >= duration.as_secs() + 120 + 30 + 60,
        "activeDeadlineSeconds {deadline} is too short for --duration {duration:?}"
    );
}

fn help(subcommand: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postdeploy"))
        .args([subcommand, "--help"])
        .output()
        .unwrap()
}

/// The flags `postdeploy SUBCOMMAND --help` lists.
fn help_flags(o: &Output) -> BTreeSet<String> {
    String::from_utf8_lossy(&o.stdout)
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--"))
        .map(|w| w.split(['=', '[', '<']).next().unwrap().to_string())
        .collect()
}

#[test]
fn every_flag_the_jobs_pass_exists_or_is_a_pending_shard_flag() {
    let shards = args(&yaml(&format!("{KUBE_DIR}/job-shards.yaml")));
    let load = help("load");
    assert!(load.status.success());
    let known = help_flags(&load);
    assert!(known.contains("--users") && known.contains("--no-history"));
    let sharding_built = known.contains("--shards");
    for a in shards.iter().filter(|a| a.starts_with("--")) {
        let (name, _) = flag(a);
        assert!(
            known.contains(name) || (!sharding_built && PENDING_LOAD_FLAGS.contains(&name)),
            "job-shards.yaml passes `{a}`, which `postdeploy load` does not have"
        );
    }
    // Every argument but the subcommand is a flag, `--name=value` or bare:
    // a value in its own argument would be read here as a positional.
    assert!(
        shards[1..].iter().all(|a| a.starts_with("--")),
        "{shards:?}"
    );

    let merge = args(&yaml(&format!("{KUBE_DIR}/job-merge.yaml")));
    let o = help("merge");
    if o.status.success() {
        let known = help_flags(&o);
        for a in merge.iter().filter(|a| a.starts_with("--")) {
            let (name, _) = flag(a);
            assert!(known.contains(name), "job-merge.yaml passes `{a}`");
        }
    } else {
        eprintln!("`postdeploy merge` is not built yet: job-merge.yaml's flags are unchecked");
    }
}

/// `dir/scenarios` laid out as kubelet mounts a ConfigMap: the files in a
/// timestamped directory, `..data` linking to it, each name a link through
/// `..data`.
fn configmap_volume(dir: &Path, files: &[PathBuf]) {
    let data = dir.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink("..2026_01_01_00_00_00.000000001", dir.join("..data")).unwrap();
    for f in files {
        let name = f.file_name().unwrap();
        std::fs::copy(f, data.join(name)).unwrap();
        std::os::unix::fs::symlink(Path::new("..data").join(name), dir.join(name)).unwrap();
    }
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The shard's own command line, as kubelet expands it, run by the real
/// binary in the pod's layout: the image's working directory with schemas/
/// and the scenarios ConfigMap, the volume elsewhere. Short (a few users
/// for a few seconds) and against the embedded backend. It must pass and
/// write its reports where the merge looks, and nothing into the working
/// directory, which is read-only in the pod. Until `--shards` exists, the
/// pending shard flags are left out.
#[test]
fn the_shard_command_runs_in_the_pods_layout_and_writes_only_its_reports() {
    let root = support::root();
    let tmp = tempfile::tempdir().unwrap();
    let workdir = tmp.path().join("postdeploy");
    let volume = tmp.path().join("reports");
    std::fs::create_dir_all(workdir.join("scenarios")).unwrap();
    std::fs::create_dir_all(&volume).unwrap();
    let kube_scenarios = root.join(KUBE_DIR).join("scenarios");
    let mut files: Vec<PathBuf> = yaml_names(&kube_scenarios)
        .into_iter()
        .map(|n| kube_scenarios.join(n))
        .collect();
    files.sort();
    configmap_volume(&workdir.join("scenarios"), &files);
    std::fs::create_dir_all(workdir.join("schemas")).unwrap();
    for e in std::fs::read_dir(root.join("schemas")).unwrap().flatten() {
        std::fs::copy(e.path(), workdir.join("schemas").join(e.file_name())).unwrap();
    }
    let before = entries(&workdir);

    let sharding_built = help_flags(&help("load")).contains("--shards");
    let start_at = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let env = [
        ("RUN_ID", "20260101T000000Z"),
        ("START_AT", start_at.as_str()),
        ("JOB_COMPLETION_INDEX", "0"),
    ];
    let expand = |arg: &str| {
        let mut out = arg.to_string();
        for (k, v) in env {
            out = out.replace(&format!("$({k})"), v);
        }
        out.replace("/reports/", &format!("{}/", volume.display()))
    };
    let mut cmd: Vec<String> = Vec::new();
    for a in args(&yaml(&format!("{KUBE_DIR}/job-shards.yaml"))) {
        let (name, _) = flag(&a);
        let shortened = match name {
            _ if !sharding_built && PENDING_LOAD_FLAGS.contains(&name) => continue,
            // Five users per shard: enough for every bundled scenario.
            "--users" => "--users=15".to_string(),
            "--ramp" => "--ramp=1s".to_string(),
            "--duration" => "--duration=3s".to_string(),
            _ => expand(&a),
        };
        cmd.push(shortened);
    }
    let log = tmp.path().join("shard.log");
    let mut c = Command::new(env!("CARGO_BIN_EXE_postdeploy"));
    c.args(&cmd)
        .current_dir(&workdir)
        .env("CI", "true")
        .env("POSTDEPLOY_TARGET", "local")
        .env_remove("POSTDEPLOY_HISTORY")
        .env_remove("POSTDEPLOY_ENV")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(tmp.path().join("shard.err")).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("postdeploy {} did not finish within 120 s", cmd.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "postdeploy {} exited {status}:\n{}{}",
        cmd.join(" "),
        std::fs::read_to_string(&log).unwrap(),
        std::fs::read_to_string(tmp.path().join("shard.err")).unwrap()
    );
    let out = volume.join("20260101T000000Z/shard-0");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["passed"], true, "{}", summary["slo"]);
    assert!(summary["all"]["count"].as_u64().unwrap() > 0);
    assert_eq!(
        summary["run"]["provenance"]["labels"]["run-id"],
        "20260101T000000Z"
    );
    // Each scenario once, through the ConfigMap's links (not also through
    // `..data` or the timestamped directory), and the copies ran: their
    // SHA-256 is the repository's scenario's.
    let ran = summary["run"]["scenarios"].as_array().unwrap();
    assert!(!ran.is_empty());
    let mut seen = BTreeSet::new();
    for sc in ran {
        let file = sc["file"].as_str().unwrap();
        assert!(seen.insert(file.to_string()), "{file} ran twice");
        let name = file
            .strip_prefix("scenarios/")
            .unwrap_or_else(|| panic!("{file}"));
        assert!(
            !name.contains('/'),
            "{file}: read through the volume's internals"
        );
        let repo = std::fs::read(root.join("scenarios").join(name)).unwrap();
        assert_eq!(sc["sha256"], sha256_hex(&repo), "{file}");
    }
    assert_eq!(
        entries(&workdir),
        before,
        "the run wrote into its working directory"
    );
    assert_eq!(
        entries(&volume),
        BTreeSet::from(["20260101T000000Z".to_string()])
    );
}

/// Every Dockerfile of the repository but the broken fixtures.
fn dockerfiles() -> Vec<String> {
    let root = support::root();
    let mut out = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !matches!(
                    rel.as_str(),
                    "target" | ".git" | "reports" | "tests/fixtures"
                ) {
                    todo.push(p);
                }
            } else if name == "Dockerfile"
                || name.ends_with(".Dockerfile")
                || (name.starts_with("Dockerfile.") && !name.ends_with(".dockerignore"))
            {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_dockerfile_passes_hadolint() {
    let files = dockerfiles();
    assert!(
        files.contains(&"Dockerfile".to_string())
            && files.contains(&"backend/Dockerfile".to_string()),
        "{files:?}"
    );
    for f in &files {
        // The default failure threshold: any finding, info included.
        let o = run("hadolint", &["--no-color", f]);
        assert!(o.status.success(), "hadolint {f}:\n{}", output_text(&o));
    }
}

#[test]
fn hadolint_rejects_a_broken_dockerfile() {
    let o = run(
        "hadolint",
        &["--no-color", "tests/fixtures/docker/unpinned.Dockerfile"],
    );
    let text = output_text(&o);
    assert!(
        !o.status.success() && text.contains("DL3006") && text.contains("DL3008"),
        "hadolint passed an untagged base image and unpinned packages:\n{text}"
    );
}

/// The image's build context (`.dockerignore`, an allowlist) holds what
/// the build reads: every workspace member, every directory of SQL
/// migrations a crate embeds, and what the Dockerfile copies.
#[test]
fn the_image_build_context_holds_what_the_build_reads() {
    let root = support::root();
    let ignore = read(".dockerignore");
    let mut lines = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    assert_eq!(lines.next(), Some("*"), ".dockerignore is not an allowlist");
    let allowed: Vec<&str> = lines
        .map(|l| {
            l.strip_prefix('!')
                .unwrap_or_else(|| panic!("{l}"))
                .trim_end_matches('/')
        })
        .collect();
    let in_context = |path: &str| {
        allowed
            .iter()
            .any(|a| path == *a || path.starts_with(&format!("{a}/")))
    };
    for a in &allowed {
        assert!(
            root.join(a).exists(),
            ".dockerignore allows {a}, which does not exist"
        );
    }

    let mut crates = vec![String::new()];
    crates.extend(workspace_members(&read("Cargo.toml")));
    for krate in &crates {
        let prefix = if krate.is_empty() {
            String::new()
        } else {
            format!("{krate}/")
        };
        for need in ["Cargo.toml", "src"] {
            assert!(
                in_context(&format!("{prefix}{need}")),
                "{prefix}{need} is not in the build context"
            );
        }
        for f in support::files_under(&root.join(format!("{prefix}src"))) {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, _) in text.match_indices("sqlx::migrate!(\"") {
                let rest = &text[i + "sqlx::migrate!(\"".len()..];
                let dir = rest[..rest.find('"').unwrap()].trim_start_matches("./");
                assert!(
                    in_context(&format!("{prefix}{dir}")),
                    "{}: {prefix}{dir} is not in the build context",
                    f.display()
                );
            }
        }
    }
    assert!(in_context("Cargo.lock"));
    for l in read("Dockerfile").lines() {
        if let Some(rest) = l.strip_prefix("COPY ")
            && !rest.starts_with("--from")
        {
            let src = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/');
            if src != "." {
                assert!(
                    in_context(src),
                    "the Dockerfile copies {src}, not in the build context"
                );
            }
        }
    }
}

/// `[workspace] members = [...]` of a Cargo.toml, on one line as ours is.
fn workspace_members(cargo_toml: &str) -> Vec<String> {
    let line = cargo_toml
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("workspace members");
    let list = &line[line.find('[').unwrap() + 1..line.rfind(']').unwrap()];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
