//! The project record and the validation rules of the original's DTOs.
//!
//! Validation works on a raw `serde_json::Value` rather than a typed
//! `Deserialize` struct because the contract needs *every* failing field
//! reported in class-validator's wording, while serde stops at the first error
//! and words it its own way.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A project as stored and as returned (camelCase, nulls present, keys in the
/// original's order).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub image_url: Option<String>,
    pub project_url: Option<String>,
    pub github_url: Option<String>,
    pub technologies: Option<Vec<String>>,
    pub is_active: bool,
    pub sort_order: i32,
    #[serde(serialize_with = "iso_millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "iso_millis")]
    pub updated_at: DateTime<Utc>,
}

/// JavaScript's `Date.toISOString()`: milliseconds and `Z`.
fn iso_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The current time at the millisecond precision clients see, so a stored
/// value reads back exactly as it was first returned.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// A validated partial update: `None` = leave as is; for nullable columns
/// `Some(None)` = set to null.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<Option<String>>,
    pub project_url: Option<Option<String>>,
    pub github_url: Option<Option<String>>,
    pub technologies: Option<Option<Vec<String>>>,
    pub is_active: Option<bool>,
    pub sort_order: Option<i32>,
}

impl Changes {
    /// Builds the record a create stores; `title`/`description` are present
    /// because create validation required them.
    pub fn into_new_project(self) -> Project {
        let now = now_millis();
        Project {
            id: Uuid::new_v4(),
            title: self.title.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            image_url: self.image_url.flatten(),
            project_url: self.project_url.flatten(),
            github_url: self.github_url.flatten(),
            technologies: self.technologies.flatten(),
            is_active: self.is_active.unwrap_or(true),
            sort_order: self.sort_order.unwrap_or(0),
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies the update; `updatedAt` strictly moves forward even when two
    /// writes land in the same millisecond.
    pub fn apply(self, p: &mut Project) {
        if let Some(v) = self.title {
            p.title = v;
        }
        if let Some(v) = self.description {
            p.description = v;
        }
        if let Some(v) = self.image_url {
            p.image_url = v;
        }
        if let Some(v) = self.project_url {
            p.project_url = v;
        }
        if let Some(v) = self.github_url {
            p.github_url = v;
        }
        if let Some(v) = self.technologies {
            p.technologies = v;
        }
        if let Some(v) = self.is_active {
            p.is_active = v;
        }
        if let Some(v) = self.sort_order {
            p.sort_order = v;
        }
        let now = now_millis();
        let floor = p.updated_at + chrono::Duration::milliseconds(1);
        p.updated_at = if now > p.updated_at { now } else { floor };
    }
}

/// Create (`partial = false`) or update (`partial = true`) validation.
/// Messages follow the original DTO's decorators, field by field in declaration
/// order: title `@IsString @IsNotEmpty @MaxLength(200)`, description
/// `@IsString @IsNotEmpty`, the URLs `@IsOptional @IsUrl @MaxLength(500)`,
/// technologies `@IsOptional @IsArray @IsString({each})`, isActive
/// `@IsOptional @IsBoolean`, sortOrder `@IsOptional @IsNumber`.
pub fn validate(body: &Value, partial: bool) -> Result<Changes, Vec<String>> {
    let empty = Map::new();
    // A JSON array (which express.json accepts) carries no fields.
    let obj = body.as_object().unwrap_or(&empty);
    let mut errs = Vec::new();
    let mut c = Changes {
        title: required_string(obj, "title", Some(200), partial, &mut errs),
        description: required_string(obj, "description", None, partial, &mut errs),
        image_url: optional_url(obj, &["imageUrl"], &mut errs),
        project_url: optional_url(obj, &["projectUrl", "url"], &mut errs),
        github_url: optional_url(obj, &["githubUrl", "github"], &mut errs),
        ..Changes::default()
    };
    match obj.get("technologies") {
        None => {}
        Some(Value::Null) => c.technologies = Some(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut bad = false;
            for item in items {
                match item.as_str() {
                    Some(s) if s.contains('\0') => bad = true,
                    Some(s) => out.push(s.to_owned()),
                    None => bad = true,
                }
            }
            if bad {
                errs.push("each value in technologies must be a string".into());
            } else {
                c.technologies = Some(Some(out));
            }
        }
        Some(other) => {
            errs.push("technologies must be an array".into());
            // class-validator's `each` checks a non-array value as one item.
            if !other.is_string() {
                errs.push("each value in technologies must be a string".into());
            }
        }
    }
    match obj.get("isActive") {
        // null would violate NOT NULL (a 500 in the original): keep the default.
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => c.is_active = Some(*b),
        Some(_) => errs.push("isActive must be a boolean value".into()),
    }
    match obj.get("sortOrder") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => {
            // The column is `int`: the original answered 500 to fractions and
            // out-of-range numbers; we reject them instead.
            match n.as_i64() {
                Some(i) if i > i32::MAX as i64 => {
                    errs.push(format!("sortOrder must not be greater than {}", i32::MAX))
                }
                Some(i) if i < i32::MIN as i64 => {
                    errs.push(format!("sortOrder must not be less than {}", i32::MIN))
                }
                Some(i) => c.sort_order = Some(i as i32),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f >= i32::MIN as f64 && f <= i32::MAX as f64 => {
                        c.sort_order = Some(f as i32)
                    }
                    _ => errs.push("sortOrder must be an integer number".into()),
                },
            }
        }
        Some(_) => {
            errs.push("sortOrder must be a number conforming to the specified constraints".into())
        }
    }
    if errs.is_empty() { Ok(c) } else { Err(errs) }
}

fn required_string(
    obj: &Map<String, Value>,
    field: &str,
    max: Option<usize>,
    partial: bool,
    errs: &mut Vec<String>,
) -> Option<String> {
    let too_long = |errs: &mut Vec<String>| {
        if let Some(m) = max {
            errs.push(format!(
                "{field} must be shorter than or equal to {m} characters"
            ));
        }
    };
    match obj.get(field) {
        None if partial => None,
        None | Some(Value::Null) => {
            errs.push(format!("{field} must be a string"));
            errs.push(format!("{field} should not be empty"));
            too_long(errs);
            None
        }
        Some(Value::String(s)) => {
            let before = errs.len();
            if s.is_empty() {
                errs.push(format!("{field} should not be empty"));
            }
            if max.is_some_and(|m| s.chars().count() > m) {
                too_long(errs);
            }
            if s.contains('\0') {
                // PostgreSQL text cannot hold NUL; the original answered 500.
                errs.push(format!("{field} must not contain null characters"));
            }
            (errs.len() == before).then(|| s.clone())
        }
        Some(_) => {
            errs.push(format!("{field} must be a string"));
            too_long(errs);
            None
        }
    }
}

/// Reads the first present name among `names` (canonical name first, then
/// the aliases the original silently dropped).
fn optional_url(
    obj: &Map<String, Value>,
    names: &[&str],
    errs: &mut Vec<String>,
) -> Option<Option<String>> {
    let (field, value) = names.iter().find_map(|n| obj.get(*n).map(|v| (*n, v)))?;
    match value {
        Value::Null => Some(None),
        Value::String(s) => {
            let before = errs.len();
            if !is_url(s) {
                errs.push(format!("{field} must be a URL address"));
            }
            if s.chars().count() > 500 {
                errs.push(format!(
                    "{field} must be shorter than or equal to 500 characters"
                ));
            }
            (errs.len() == before).then(|| Some(s.clone()))
        }
        _ => {
            errs.push(format!("{field} must be a URL address"));
            errs.push(format!(
                "{field} must be shorter than or equal to 500 characters"
            ));
            None
        }
    }
}

/// A close reading of validator.js `isURL` defaults: optional http/https/ftp
/// scheme, a host with a top-level domain (or an IPv4 address), optional port,
/// no whitespace.
pub fn is_url(s: &str) -> bool {
    if s.is_empty() || s.len() > 2083 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if s.starts_with("mailto:") {
        return false;
    }
    let rest = match s.split_once("://") {
        Some((scheme, rest)) => {
            if !matches!(
                scheme.to_ascii_lowercase().as_str(),
                "http" | "https" | "ftp"
            ) {
                return false;
            }
            rest
        }
        None if s.starts_with("//") => return false,
        None => s,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            if userinfo.is_empty() {
                return false;
            }
            hp
        }
        None => authority,
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host_port, None),
    };
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if n > 0 && n <= 65535 && !p.is_empty() => {}
            _ => return false,
        }
    }
    if host.is_empty() {
        return false;
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let tld = labels[labels.len() - 1];
    let tld_ok = tld.chars().count() >= 2
        && tld.chars().all(|c| c.is_alphabetic() || c == '-')
        && !tld.starts_with('-')
        && !tld.ends_with('-');
    tld_ok
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
}

/// ParseUUIDPipe's default check: the 8-4-4-4-12 hex form of any version
/// (the nil UUID included). Other spellings `uuid` accepts (simple, braced,
/// URN) are rejected like the original rejects them.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return None;
        }
    }
    Uuid::parse_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_create_reports_every_required_field() {
        let errs = validate(&json!({}), false).unwrap_err();
        assert!(errs.contains(&"title must be a string".to_string()));
        assert!(errs.contains(&"title should not be empty".to_string()));
        assert!(errs.contains(&"description must be a string".to_string()));
    }

    #[test]
    fn aliases_land_in_the_right_columns() {
        let c = validate(
            &json!({"title":"t","description":"d","url":"https://a.com","github":"https://github.com/x/y"}),
            false,
        )
        .unwrap();
        assert_eq!(c.project_url, Some(Some("https://a.com".into())));
        assert_eq!(c.github_url, Some(Some("https://github.com/x/y".into())));
    }

    #[test]
    fn urls() {
        for ok in [
            "https://davidshaevel.com",
            "http://a.b.co:8080/x?y#z",
            "example.com",
            "http://1.2.3.4/x",
        ] {
            assert!(is_url(ok), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "http://localhost",
            "javascript:alert(1)",
            "http://a",
            "ftp://",
            "x://a.com",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }

    #[test]
    fn uuids() {
        assert!(parse_uuid("00000000-0000-0000-0000-000000000000").is_some());
        assert!(parse_uuid("6F9619FF-8B86-D011-B42D-00C04FC964FF").is_some());
        assert!(parse_uuid("6f9619ff8b86d011b42d00c04fc964ff").is_none());
        assert!(parse_uuid("not-a-uuid").is_none());
    }
}
