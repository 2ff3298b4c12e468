//! A small XML well-formedness check for the chart tests: the SVG carries
//! device-supplied text, so every chart test proves the document still
//! parses (balanced elements under one root, quoted attributes, no raw `<`
//! in values, every `&` an entity) without pulling in an XML parser.

/// The number of elements, or what is wrong.
pub(super) fn well_formed(svg: &str) -> Result<usize, String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut elements = 0;
    let mut roots = 0;
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if !entities_ok(text) || text.contains('>') {
            return Err(format!("bad text {text:?}"));
        }
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        let after = &rest[open + 1..];
        let end = tag_end(after)?;
        let body = &after[..end];
        rest = &after[end + 1..];
        if let Some(name) = body.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => continue,
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        }
        let self_closing = body.ends_with('/');
        let body = body.trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("bad element name {name:?}"));
        }
        check_attributes(body, &body[name_end..])?;
        elements += 1;
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
    }
    if !rest.trim().is_empty() || !stack.is_empty() || roots != 1 {
        return Err(format!("unbalanced: open {stack:?}, {roots} roots"));
    }
    Ok(elements)
}

/// Every `&` starts one of the five XML entities or a decimal reference.
fn entities_ok(s: &str) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        let tail = &rest[i + 1..];
        let Some(end) = tail.find(';') else {
            return false;
        };
        let name = &tail[..end];
        let ok = matches!(name, "lt" | "gt" | "amp" | "quot" | "apos")
            || (name.starts_with('#') && name[1..].chars().all(|c| c.is_ascii_digit()));
        if !ok {
            return false;
        }
        rest = &tail[end + 1..];
    }
    true
}

/// Where the tag that `after` (the text after a `<`) opens ends: its `>`
/// outside quotes.
fn tag_end(after: &str) -> Result<usize, String> {
    let mut in_quote = false;
    for (i, c) in after.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '<' if in_quote => return Err("raw < in an attribute".into()),
            '<' => return Err("raw < in a tag".into()),
            '>' if !in_quote => return Ok(i),
            _ => {}
        }
    }
    Err("unterminated tag".into())
}

/// `attrs` is a run of `key="value"` pairs with clean names and values.
fn check_attributes(body: &str, attrs: &str) -> Result<(), String> {
    let mut attrs = attrs.trim();
    while !attrs.is_empty() {
        let eq = attrs
            .find("=\"")
            .ok_or(format!("bad attribute in {body:?}"))?;
        let key = &attrs[..eq];
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("bad attribute name {key:?}"));
        }
        let value_and_rest = &attrs[eq + 2..];
        let close = value_and_rest.find('"').ok_or("unterminated value")?;
        if !entities_ok(&value_and_rest[..close]) {
            return Err(format!("bad value {:?}", &value_and_rest[..close]));
        }
        attrs = value_and_rest[close + 1..].trim_start();
    }
    Ok(())
}
