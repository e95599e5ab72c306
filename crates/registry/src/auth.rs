//! Access control: htpasswd (bcrypt) basic auth, or bearer tokens issued by the built-in token
//! endpoint (`/token`, Docker's token protocol) with per-repository `pull`/`push`/`delete`.
//!
//! Tokens are JWTs signed with HMAC-SHA256 under a key only this server knows; the registry is
//! both issuer and verifier, so no public-key machinery is needed. Claims follow distribution's
//! token spec: `iss`, `sub`, `aud` (the service), `exp`, `nbf`, `iat`, `jti` and `access`, a list
//! of `{type, name, actions}`.
//!
//! A bcrypt check costs milliseconds by design; a successful one is remembered (by a hash of the
//! user and password, never the password) so a client sending basic credentials on every request
//! of a pull does not pay it each time.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION, HOST};
use hyper::{Method, Request};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::config::{self, parse_duration, AclRule};
use crate::error::{Error, Result};
use crate::server::{json_resp, query, Ctx, Resp};

/// One right asked for: `repository:<name>:<action>` or `registry:catalog:*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Access {
    pub typ: String,
    pub name: String,
    pub action: String,
}

impl Access {
    pub(crate) fn new(typ: &str, name: &str, action: &str) -> Access {
        Access {
            typ: typ.into(),
            name: name.into(),
            action: action.into(),
        }
    }
}

/// The scope string of a challenge: writes need `pull` too, as in distribution.
fn scope_of(access: &[Access]) -> Option<String> {
    let a = access.first()?;
    let actions = if a.action == "push" {
        "pull,push".to_string()
    } else {
        a.action.clone()
    };
    Some(format!("{}:{}:{}", a.typ, a.name, actions))
}

/// Rights a request needs: pushing also needs pulling.
fn required(access: &[Access]) -> Vec<Access> {
    let mut out = access.to_vec();
    for a in access {
        if a.action == "push" {
            out.push(Access::new(&a.typ, &a.name, "pull"));
        }
    }
    out
}

struct TokenIssuer {
    realm: Option<String>,
    service: String,
    issuer: String,
    lifetime: Duration,
    key: Vec<u8>,
    acl: Vec<AclRule>,
}

pub(crate) struct Auth {
    realm: String,
    users: HashMap<String, String>,
    token: Option<TokenIssuer>,
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    /// A hash to check unknown users' passwords against.
    dummy: String,
}

/// How long a remembered password check stays valid (the htpasswd file is read once, at start).
const REMEMBER: Duration = Duration::from_secs(300);

impl Auth {
    /// `None` when the configuration asks for no authentication.
    pub(crate) fn load(cfg: &config::Auth) -> Result<Option<Auth>> {
        let Some(h) = &cfg.htpasswd else {
            if cfg.token.is_some() {
                return Err(Error::Internal(
                    "auth.token needs auth.htpasswd for its users".into(),
                ));
            }
            return Ok(None);
        };
        let text = std::fs::read_to_string(&h.path)
            .map_err(|e| Error::Internal(format!("htpasswd {}: {e}", h.path.display())))?;
        let mut users = HashMap::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let Some((user, hash)) = line.split_once(':') else {
                continue;
            };
            // distribution accepts bcrypt only; other schemes (MD5, SHA1, crypt) are weak.
            if hash.starts_with("$2") {
                users.insert(user.to_string(), hash.to_string());
            } else {
                tracing::warn!(user, "htpasswd entry is not bcrypt; ignored");
            }
        }
        let token = match &cfg.token {
            None => None,
            Some(t) => Some(TokenIssuer {
                realm: t.realm.clone(),
                service: t.service.clone(),
                issuer: t.issuer.clone(),
                lifetime: parse_duration(&t.expiration)?,
                key: match &t.secret {
                    Some(s) => hex::decode(s.trim())
                        .map_err(|_| Error::Internal("auth.token.secret must be hex".into()))?,
                    None => rand::random::<[u8; 32]>().to_vec(),
                },
                acl: t.acl.clone(),
            }),
        };
        Ok(Some(Auth {
            realm: h.realm.clone(),
            users,
            token,
            verified: Mutex::new(HashMap::new()),
            dummy: bcrypt::hash(rand::random::<u64>().to_string(), 5)
                .map_err(|e| Error::Internal(format!("bcrypt: {e}")))?,
        }))
    }

    pub(crate) fn issues_tokens(&self) -> bool {
        self.token.is_some()
    }

    fn check_password(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            // Spend the same effort for an unknown user, so timing does not reveal names.
            let _ = bcrypt::verify(password, &self.dummy);
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        let now = Instant::now();
        {
            let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if cache
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < REMEMBER)
            {
                return true;
            }
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, now);
        }
        ok
    }

    /// The user of valid basic credentials; `None` if absent or wrong.
    fn basic_user(&self, headers: &HeaderMap) -> Option<String> {
        let (user, password) = basic_credentials(headers)?;
        self.check_password(&user, &password).then_some(user)
    }

    /// The user name a request's Basic credentials claim (unchecked), for counting failures.
    pub(crate) fn basic_user_name(&self, headers: &HeaderMap) -> Option<String> {
        basic_credentials(headers).map(|(user, _)| user)
    }

    /// Checks a request's credentials for `access` (empty: any authenticated caller) and
    /// returns the user. Refusals carry the challenge the client needs.
    pub(crate) fn authorize(
        &self,
        headers: &HeaderMap,
        access: &[Access],
        tls: bool,
    ) -> Result<Option<String>> {
        let Some(t) = &self.token else {
            return match self.basic_user(headers) {
                Some(u) => Ok(Some(u)),
                None => Err(Error::Unauthorized {
                    challenge: format!("Basic realm=\"{}\"", self.realm),
                    detail: Value::Null,
                }),
            };
        };
        let challenge = |error: Option<&str>| {
            let realm = t.realm.clone().unwrap_or_else(|| own_realm(headers, tls));
            let mut c = format!("Bearer realm=\"{realm}\",service=\"{}\"", t.service);
            if let Some(s) = scope_of(access) {
                c.push_str(&format!(",scope=\"{s}\""));
            }
            if let Some(e) = error {
                c.push_str(&format!(",error=\"{e}\""));
            }
            c
        };
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let Some(token) = bearer else {
            return Err(Error::Unauthorized {
                challenge: challenge(None),
                detail: Value::Null,
            });
        };
        let claims = t.verify(token.trim()).map_err(|why| Error::Unauthorized {
            challenge: challenge(Some("invalid_token")),
            detail: json!({ "reason": why }),
        })?;
        let granted = granted_set(&claims);
        for need in required(access) {
            if !granted.contains(&need) {
                return Err(Error::Unauthorized {
                    challenge: challenge(Some("insufficient_scope")),
                    detail: json!([{ "Type": need.typ, "Name": need.name, "Action": need.action }]),
                });
            }
        }
        Ok(claims["sub"].as_str().map(str::to_string))
    }

    /// `GET /token?service=&scope=...` (Docker's token protocol) and `POST /token` (its OAuth2
    /// password grant).
    pub(crate) async fn token_endpoint(
        &self,
        req: Request<Incoming>,
        ctx: &mut Ctx,
    ) -> Result<Resp> {
        let t = self.token.as_ref().ok_or(Error::NotFound)?;
        let refuse = || Error::Unauthorized {
            challenge: format!("Basic realm=\"{}\"", self.realm),
            detail: Value::Null,
        };
        let (user, scopes) = match *req.method() {
            Method::GET => {
                let q = query(&req);
                // Anonymous tokens are not issued: a protected registry serves nobody unknown.
                let user = self.basic_user(req.headers()).ok_or_else(refuse)?;
                let scopes: Vec<String> = q
                    .iter()
                    .filter(|(k, _)| k == "scope")
                    .flat_map(|(_, v)| v.split(' ').map(str::to_string))
                    .collect();
                (user, scopes)
            }
            Method::POST => {
                let form = crate::body::read_limited(
                    req.into_body(),
                    64 * 1024,
                    Duration::from_secs(30),
                    || Error::Denied("token request too large".into()),
                )
                .await?;
                let form: HashMap<String, String> =
                    form_urlencoded::parse(&form).into_owned().collect();
                if form.get("grant_type").map(String::as_str) != Some("password") {
                    return Err(Error::Unsupported("only grant_type=password".into()));
                }
                let (u, p) = (
                    form.get("username").cloned().unwrap_or_default(),
                    form.get("password").cloned().unwrap_or_default(),
                );
                if !self.check_password(&u, &p) {
                    return Err(refuse());
                }
                let scopes = form
                    .get("scope")
                    .map(|s| s.split(' ').map(str::to_string).collect())
                    .unwrap_or_default();
                (u, scopes)
            }
            _ => return Err(Error::MethodNotAllowed),
        };
        ctx.user = Some(user.clone());
        let mut access: Vec<Value> = Vec::new();
        for s in scopes.iter().filter(|s| !s.is_empty()) {
            // type:name:actions, where only the type and the actions are colon-free.
            let Some((typ, rest)) = s.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let allowed: Vec<&str> = actions
                .split(',')
                .filter(|a| !a.is_empty() && t.allows(&user, typ, name, a))
                .collect();
            access.push(json!({ "type": typ, "name": name, "actions": allowed }));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = json!({
            "iss": t.issuer, "sub": user, "aud": t.service,
            "exp": now + t.lifetime.as_secs(), "nbf": now.saturating_sub(10), "iat": now,
            "jti": format!("{:032x}", rand::random::<u128>()),
            "access": access,
        });
        let token = t.sign(&claims);
        json_resp(
            200,
            &json!({
                "token": token, "access_token": token,
                "expires_in": t.lifetime.as_secs(), "issued_at": rfc3339(now),
            }),
        )
    }
}

fn granted_set(claims: &Value) -> HashSet<Access> {
    let mut set = HashSet::new();
    for a in claims["access"].as_array().into_iter().flatten() {
        let (Some(typ), Some(name)) = (a["type"].as_str(), a["name"].as_str()) else {
            continue;
        };
        for act in a["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            set.insert(Access::new(typ, name, act));
        }
    }
    set
}

/// This server's own token URL, from the `Host` the client used. The header is the client's
/// own word and only goes back to it; still, anything unusual is replaced.
fn own_realm(headers: &HeaderMap, tls: bool) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() < 256
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{}://{host}/token", if tls { "https" } else { "http" })
}

fn rfc3339(secs: u64) -> String {
    time_fmt(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
fn time_fmt(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl TokenIssuer {
    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    fn sign(&self, claims: &Value) -> String {
        let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing = format!("{head}.{body}");
        let sig = self
            .mac()
            .chain_update(signing.as_bytes())
            .finalize()
            .into_bytes();
        format!("{signing}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The claims of a token this server signed and that is valid now.
    fn verify(&self, token: &str) -> std::result::Result<Value, &'static str> {
        if token.len() > 64 * 1024 {
            return Err("token too long");
        }
        let mut parts = token.split('.');
        let (Some(h), Some(b), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token");
        };
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "malformed signature")?;
        self.mac()
            .chain_update(format!("{h}.{b}").as_bytes())
            .verify_slice(&sig)
            .map_err(|_| "bad signature")?;
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| "malformed header")?)
                .map_err(|_| "malformed header")?;
        if header["alg"] != "HS256" {
            return Err("unexpected algorithm");
        }
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b).map_err(|_| "malformed claims")?)
                .map_err(|_| "malformed claims")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if claims["exp"].as_u64().is_none_or(|e| e <= now) {
            return Err("token expired");
        }
        if claims["nbf"].as_u64().is_some_and(|n| n > now + 60) {
            return Err("token not yet valid");
        }
        if claims["iss"] != self.issuer.as_str() || claims["aud"] != self.service.as_str() {
            return Err("token for another service");
        }
        Ok(claims)
    }

    /// Whether the ACL lets `user` do `action` on `typ:name`. No rules: everything.
    fn allows(&self, user: &str, typ: &str, name: &str, action: &str) -> bool {
        if self.acl.is_empty() {
            return true;
        }
        for rule in &self.acl {
            if rule.account != "*" && rule.account != user {
                continue;
            }
            let name_matches = match typ {
                // Registry-wide rights (catalog, gc) come only from a rule on every name.
                "registry" => rule.name == "*",
                "repository" => match rule.name.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => rule.name == name,
                },
                _ => false,
            };
            if name_matches {
                return rule.actions.iter().any(|a| a == action || a == "*");
            }
        }
        false
    }
}

/// `Authorization: Basic` user and password.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (user, password) = raw.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(acl: Vec<AclRule>) -> TokenIssuer {
        TokenIssuer {
            realm: None,
            service: "svc".into(),
            issuer: "iss".into(),
            lifetime: Duration::from_secs(60),
            key: b"k".to_vec(),
            acl,
        }
    }

    #[test]
    fn tokens_round_trip_and_tamper() {
        let t = issuer(vec![]);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let tok = t.sign(&json!({"iss":"iss","aud":"svc","sub":"u","exp":now+60,"access":[]}));
        assert!(t.verify(&tok).is_ok());
        let mut bad = tok.clone();
        bad.push('A');
        assert!(t.verify(&bad).is_err());
        let other = TokenIssuer {
            key: b"other".to_vec(),
            ..issuer(vec![])
        };
        assert_eq!(other.verify(&tok), Err("bad signature"));
        let old = t.sign(&json!({"iss":"iss","aud":"svc","exp":now-1}));
        assert_eq!(t.verify(&old), Err("token expired"));
        let wrong = t.sign(&json!({"iss":"iss","aud":"x","exp":now+60}));
        assert!(t.verify(&wrong).is_err());
    }

    #[test]
    fn acl() {
        let rule = |a: &str, n: &str, acts: &[&str]| AclRule {
            account: a.into(),
            name: n.into(),
            actions: acts.iter().map(|s| s.to_string()).collect(),
        };
        let t = issuer(vec![
            rule("alice", "alice/*", &["pull", "push", "delete"]),
            rule("*", "*", &["pull"]),
        ]);
        assert!(t.allows("alice", "repository", "alice/x", "push"));
        assert!(!t.allows("bob", "repository", "alice/x", "push"));
        assert!(t.allows("bob", "repository", "alice/x", "pull"));
        assert!(!t.allows("bob", "registry", "catalog", "*"));
    }

    #[test]
    fn dates() {
        assert_eq!(time_fmt(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_fmt(951_782_400), "2000-02-29T00:00:00Z");
    }
}
