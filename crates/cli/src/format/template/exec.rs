//! Executing a parsed template against a [`Value`], with Go's built-in functions and the ones
//! docker adds (`json`, `join`, `split`, `upper`, `lower`, `title`, `truncate`, `pad`).

use super::parse::{Arg, Cmd, Node, Pipe};
use super::printf::sprintf;
use super::value::Value;

struct Exec<'a> {
    root: &'a Value,
    strict: bool,
    vars: Vec<(String, Value)>,
    out: String,
}

/// Renders `nodes` with `data` as `.` and `$`. `strict`: a missing field is an error (the
/// computed contexts of `ps`/`images`, where docker's formatter has a fixed set of fields).
pub fn execute(nodes: &[Node], data: &Value, strict: bool) -> Result<String, String> {
    let mut e = Exec {
        root: data,
        strict,
        vars: vec![("".into(), data.clone())],
        out: String::new(),
    };
    e.walk_list(nodes, data)?;
    Ok(e.out)
}

/// Engine API fields that are Go slices.
const NIL_SLICES: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "OnBuild",
    "Shell",
    "Mounts",
    "Binds",
    "CapAdd",
    "CapDrop",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "Links",
    "SecurityOpt",
    "Ulimits",
    "Devices",
    "DeviceRequests",
    "DeviceCgroupRules",
    "Args",
    "RepoTags",
    "RepoDigests",
    "Layers",
    "VolumesFrom",
    "Aliases",
    "Warnings",
    "MaskedPaths",
    "ReadonlyPaths",
    "ConsoleSize",
];
/// Engine API fields that are Go maps.
const NIL_MAPS: &[&str] = &[
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Options",
    "Tmpfs",
    "Sysctls",
    "StorageOpt",
    "PortBindings",
    "Ports",
    "Networks",
    "DriverOpts",
    "Annotations",
];

fn field(v: &Value, name: &str, strict: bool) -> Result<Value, String> {
    match v {
        Value::Map(_) => match v.get(name) {
            // Go prints a nil slice as `[]` and a nil map as `map[]`; JSON says only `null`, so
            // the Engine API's well-known list and map fields are given their Go spelling.
            None if strict => Err(format!("can't evaluate field {name}")),
            Some(Value::Nil) | None if NIL_SLICES.contains(&name) => Ok(Value::List(Vec::new())),
            Some(Value::Nil) | None if NIL_MAPS.contains(&name) => Ok(Value::Map(Vec::new())),
            Some(x) => Ok(x.clone()),
            // The daemon omits empty fields that docker's typed structs still have, so an
            // absent key is not an error here.
            None => Ok(Value::Missing),
        },
        Value::Nil | Value::Missing => Ok(Value::Missing),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            other.kind()
        )),
    }
}

fn chain(mut v: Value, names: &[String], strict: bool) -> Result<Value, String> {
    for n in names {
        v = field(&v, n, strict)?;
    }
    Ok(v)
}

impl Exec<'_> {
    fn walk_list(&mut self, nodes: &[Node], dot: &Value) -> Result<(), String> {
        for n in nodes {
            self.walk(n, dot)?;
        }
        Ok(())
    }

    fn scoped<F>(&mut self, f: F) -> Result<(), String>
    where
        F: FnOnce(&mut Self) -> Result<(), String>,
    {
        let mark = self.vars.len();
        let r = f(self);
        self.vars.truncate(mark);
        r
    }

    fn walk(&mut self, node: &Node, dot: &Value) -> Result<(), String> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    self.out.push_str(&v.go_string());
                }
            }
            Node::If(p, then, els) => {
                let cond = self.pipe_value(p, dot)?;
                self.scoped(|e| e.walk_list(if cond.truthy() { then } else { els }, dot))?;
            }
            Node::With(p, body, els) => {
                let v = self.pipe_value(p, dot)?;
                if v.truthy() {
                    self.scoped(|e| e.walk_list(body, &v))?;
                } else {
                    self.scoped(|e| e.walk_list(els, dot))?;
                }
            }
            Node::Range(p, body, els) => {
                let v = self.eval_cmds(&p.cmds, dot)?;
                let items: Vec<(Value, Value)> = match &v {
                    Value::List(l) => l
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                        .collect(),
                    Value::Map(m) => {
                        // Go ranges over maps in key order.
                        let mut m: Vec<_> = m
                            .iter()
                            .filter(|(k, _)| !k.starts_with('\0'))
                            .cloned()
                            .collect();
                        m.sort_by(|a, b| a.0.cmp(&b.0));
                        m.into_iter().map(|(k, x)| (Value::Str(k), x)).collect()
                    }
                    Value::Nil | Value::Missing => Vec::new(),
                    Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                    other => return Err(format!("range can't iterate over {}", other.go_string())),
                };
                if items.is_empty() {
                    return self.scoped(|e| e.walk_list(els, dot));
                }
                for (k, x) in items {
                    self.scoped(|e| {
                        match p.decl.len() {
                            0 => {}
                            1 => e.vars.push((p.decl[0].clone(), x.clone())),
                            _ => {
                                e.vars.push((p.decl[0].clone(), k.clone()));
                                e.vars.push((p.decl[1].clone(), x.clone()));
                            }
                        }
                        e.walk_list(body, &x)
                    })?;
                }
            }
        }
        Ok(())
    }

    /// A pipeline as a condition: declarations are made, the value returned.
    fn pipe_value(&mut self, p: &Pipe, dot: &Value) -> Result<Value, String> {
        self.pipe(p, dot)
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, String> {
        let v = self.eval_cmds(&p.cmds, dot)?;
        if let Some(name) = p.decl.first() {
            if p.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| format!("undefined variable: ${name}"))?;
                slot.1 = v.clone();
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, cmds: &[Cmd], dot: &Value) -> Result<Value, String> {
        let mut prev: Option<Value> = None;
        for c in cmds {
            prev = Some(self.cmd(c, dot, prev)?);
        }
        Ok(prev.unwrap_or(Value::Missing))
    }

    fn var(&self, name: &str) -> Result<Value, String> {
        if name.is_empty() {
            return Ok(self.root.clone());
        }
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undefined variable: ${name}"))
    }

    fn operand(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        match a {
            Arg::Field(c) => chain(dot.clone(), c, self.strict),
            Arg::Var(n, c) => chain(self.var(n)?, c, self.strict),
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Sub(p, c) => {
                let v = self.pipe(p, dot)?;
                chain(v, c, self.strict)
            }
            Arg::Func(f) => self.call(f, &[], dot, None),
        }
    }

    fn cmd(&mut self, c: &Cmd, dot: &Value, piped: Option<Value>) -> Result<Value, String> {
        match &c.args[0] {
            Arg::Func(f) => {
                let f = f.clone();
                self.call(&f, &c.args[1..], dot, piped)
            }
            Arg::Field(names) if c.args.len() == 2 && piped.is_none() && !names.is_empty() => {
                // A one-argument method such as docker's `{{.Label "k"}}`: the context carries
                // its map under the hidden key `\0Label`.
                let (last, head) = names.split_last().unwrap_or((&names[0], &[]));
                let receiver = chain(dot.clone(), head, self.strict)?;
                let arg = self.operand(&c.args[1], dot)?;
                match receiver.get(&format!("\0{last}")) {
                    Some(m @ Value::Map(_)) => Ok(m
                        .get(&as_str(&arg))
                        .cloned()
                        .unwrap_or(Value::Str(String::new()))),
                    _ => Err(format!(
                        "can't give argument to non-function .{}",
                        names.join(".")
                    )),
                }
            }
            other => {
                if c.args.len() > 1 || piped.is_some() {
                    return Err(format!("can't give argument to non-function {other:?}"));
                }
                self.operand(other, dot)
            }
        }
    }

    fn call(
        &mut self,
        f: &str,
        args: &[Arg],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, String> {
        // and/or short-circuit, so `and .A (index .A 0)` is safe.
        if f == "and" || f == "or" {
            let n = args.len() + piped.is_some() as usize;
            if n == 0 {
                return Err(format!(
                    "wrong number of args for {f}: want at least 1 got 0"
                ));
            }
            let mut last = Value::Missing;
            for a in args {
                last = self.operand(a, dot)?;
                if (f == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.operand(a, dot)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        // docker marshals its list contexts (`ps`, `images`) with Go's HTML-escaping encoder, so
        // `{{json .}}` there prints `<none>` as `\u003cnone\u003e`.
        if f == "json" && self.strict && matches!(vals.as_slice(), [Value::Map(_)]) {
            return Ok(Value::Str(html_escape_json(&vals[0].to_json())));
        }
        builtin(f, &vals).map_err(|e| format!("error calling {f}: {e}"))
    }
}

fn want(f: &str, v: &[Value], n: usize) -> Result<(), String> {
    if v.len() != n {
        return Err(format!(
            "wrong number of args for {f}: want {n} got {}",
            v.len()
        ));
    }
    Ok(())
}

fn as_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.go_string(),
    }
}

fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => Err(format!("expected integer; found {}", other.go_string())),
    }
}

fn basic_eq(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err("non-comparable types".into())
        }
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => x == y,
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Int(x), Value::Float(y)) => (*x as f64) < *y,
        (Value::Float(x), Value::Int(y)) => *x < (*y as f64),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err("incompatible types for comparison".into()),
    })
}

/// Go's `len`, `index`, `print*`, comparisons and docker's helpers.
fn builtin(f: &str, v: &[Value]) -> Result<Value, String> {
    Ok(match f {
        "not" => {
            want(f, v, 1)?;
            Value::Bool(!v[0].truthy())
        }
        "len" => {
            want(f, v, 1)?;
            Value::Int(match &v[0] {
                Value::Str(s) => s.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::Map(m) => m.len() as i64,
                Value::Nil | Value::Missing => 0,
                other => return Err(format!("len of type {}", other.kind())),
            })
        }
        "index" => {
            if v.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut cur = v[0].clone();
            for k in &v[1..] {
                cur = match &cur {
                    // A missing key yields the zero value of the map's element type, which for
                    // the Engine API's string maps (labels, options) is "".
                    Value::Map(_) => cur
                        .get(&as_str(k))
                        .cloned()
                        .unwrap_or(Value::Str(String::new())),
                    Value::List(l) => {
                        let i = as_int(k)?;
                        l.get(usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?)
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    Value::Str(s) => {
                        let i = as_int(k)?;
                        Value::Int(
                            *s.as_bytes()
                                .get(
                                    usize::try_from(i)
                                        .map_err(|_| format!("index out of range: {i}"))?,
                                )
                                .ok_or_else(|| format!("index out of range: {i}"))?
                                as i64,
                        )
                    }
                    Value::Nil | Value::Missing => return Err("index of untyped nil".into()),
                    other => return Err(format!("can't index item of type {}", other.kind())),
                };
            }
            cur
        }
        "slice" => {
            if v.is_empty() {
                return Err("wrong number of args for slice".into());
            }
            let idx: Vec<i64> = v[1..].iter().map(as_int).collect::<Result<_, _>>()?;
            match &v[0] {
                Value::Str(s) => {
                    let a = *idx.first().unwrap_or(&0) as usize;
                    let b = idx.get(1).map(|b| *b as usize).unwrap_or(s.len());
                    Value::Str(s.get(a..b).ok_or("slice index out of range")?.to_string())
                }
                Value::List(l) => {
                    let a = *idx.first().unwrap_or(&0) as usize;
                    let b = idx.get(1).map(|b| *b as usize).unwrap_or(l.len());
                    Value::List(l.get(a..b).ok_or("slice index out of range")?.to_vec())
                }
                other => return Err(format!("can't slice item of type {}", other.kind())),
            }
        }
        "print" => Value::Str(go_print(v)),
        "println" => {
            Value::Str(v.iter().map(Value::go_string).collect::<Vec<_>>().join(" ") + "\n")
        }
        "printf" => {
            if v.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            Value::Str(sprintf(&as_str(&v[0]), &v[1..]))
        }
        "eq" => {
            if v.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for x in &v[1..] {
                any |= basic_eq(&v[0], x)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            want(f, v, 2)?;
            Value::Bool(!basic_eq(&v[0], &v[1])?)
        }
        "lt" => {
            want(f, v, 2)?;
            Value::Bool(less(&v[0], &v[1])?)
        }
        "le" => {
            want(f, v, 2)?;
            Value::Bool(less(&v[0], &v[1])? || basic_eq(&v[0], &v[1])?)
        }
        "gt" => {
            want(f, v, 2)?;
            Value::Bool(less(&v[1], &v[0])?)
        }
        "ge" => {
            want(f, v, 2)?;
            Value::Bool(!less(&v[0], &v[1])?)
        }
        "urlquery" => Value::Str(crate::format::template::urlquery(&go_print(v))),
        "json" => {
            want(f, v, 1)?;
            Value::Str(v[0].to_json())
        }
        "join" => {
            want(f, v, 2)?;
            let sep = as_str(&v[1]);
            match &v[0] {
                Value::List(l) => Value::Str(l.iter().map(as_str).collect::<Vec<_>>().join(&sep)),
                Value::Nil | Value::Missing => Value::Str(String::new()),
                other => return Err(format!("join of type {}", other.kind())),
            }
        }
        "split" => {
            want(f, v, 2)?;
            Value::List(
                as_str(&v[0])
                    .split(as_str(&v[1]).as_str())
                    .map(|s| Value::Str(s.into()))
                    .collect(),
            )
        }
        "upper" => {
            want(f, v, 1)?;
            Value::Str(as_str(&v[0]).to_uppercase())
        }
        "lower" => {
            want(f, v, 1)?;
            Value::Str(as_str(&v[0]).to_lowercase())
        }
        "title" => {
            want(f, v, 1)?;
            let mut out = String::new();
            let mut start = true;
            for c in as_str(&v[0]).chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            Value::Str(out)
        }
        "truncate" => {
            want(f, v, 2)?;
            let n = as_int(&v[1])?.max(0) as usize;
            Value::Str(as_str(&v[0]).chars().take(n).collect())
        }
        "pad" => {
            want(f, v, 3)?;
            let (l, r) = (
                as_int(&v[1])?.max(0) as usize,
                as_int(&v[2])?.max(0) as usize,
            );
            Value::Str(format!(
                "{}{}{}",
                " ".repeat(l),
                as_str(&v[0]),
                " ".repeat(r)
            ))
        }
        other => return Err(format!("function \"{other}\" not defined")),
    })
}

/// Go's `fmt.Sprint`: spaces only between operands that are not both strings.
fn go_print(v: &[Value]) -> String {
    let mut out = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 && !matches!(x, Value::Str(_)) && !matches!(v[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&x.go_string());
    }
    out
}

/// Go's `encoding/json` HTML escaping of an encoded document.
fn html_escape_json(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Whether `name` is a function templates may call (checked at parse time, as Go does).
pub fn is_func(name: &str) -> bool {
    matches!(
        name,
        "and"
            | "or"
            | "not"
            | "len"
            | "index"
            | "slice"
            | "print"
            | "println"
            | "printf"
            | "eq"
            | "ne"
            | "lt"
            | "le"
            | "gt"
            | "ge"
            | "urlquery"
            | "json"
            | "join"
            | "split"
            | "upper"
            | "lower"
            | "title"
            | "truncate"
            | "pad"
    )
}
