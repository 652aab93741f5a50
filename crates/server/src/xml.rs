//! A small XML writer for response bodies: elements in the order they are written, text
//! escaped. Enough for every body the dialects send, with no intermediate tree.

use quick_xml::escape::escape;

/// Builds an XML document as a string.
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl XmlWriter {
    /// A document with the usual prolog.
    pub fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            open: Vec::new(),
        }
    }

    /// Opens an element.
    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// `<name>text</name>`, or `<name/>` for empty text.
    pub fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self {
        if text.is_empty() {
            self.out.push('<');
            self.out.push_str(name);
            self.out.push_str("/>");
        } else {
            self.out.push('<');
            self.out.push_str(name);
            self.out.push('>');
            push_text(&mut self.out, text);
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// Closes what is open and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Appends `text` escaped: markup characters as entities, a carriage return as `&#13;` (a
/// parser would turn a bare one into a line feed), and a character XML 1.0 cannot carry at
/// all (other C0 controls, U+FFFE, U+FFFF) as U+FFFD, so that a document stays well-formed
/// whatever it quotes. Keys with such characters are refused when stored; this covers what a
/// message quotes from a request.
fn push_text(out: &mut String, text: &str) {
    if text.chars().all(|c| c != '\r' && xml_char(c)) {
        out.push_str(&escape(text));
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if !xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Whether XML 1.0 can carry `c` in text (the `Char` production).
pub fn xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// A document written element by element: XML ([`XmlWriter`]) or the same tree as JSON
/// objects ([`JsonDoc`]), so one function describes a response in both formats.
pub trait Doc {
    /// Opens an element.
    fn open(&mut self, name: &'static str) -> &mut Self;
    /// A text element.
    fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self;
    /// Closes the innermost open element.
    fn close(&mut self) -> &mut Self;
}

impl Doc for XmlWriter {
    fn open(&mut self, name: &'static str) -> &mut Self {
        XmlWriter::open(self, name)
    }

    fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self {
        XmlWriter::leaf(self, name, text)
    }

    fn close(&mut self) -> &mut Self {
        XmlWriter::close(self)
    }
}

/// The JSON form of a [`Doc`]: elements become object members, text becomes strings.
#[derive(Default)]
pub struct JsonDoc {
    stack: Vec<(&'static str, serde_json::Map<String, serde_json::Value>)>,
    root: serde_json::Map<String, serde_json::Value>,
}

impl JsonDoc {
    pub fn new() -> Self {
        Self::default()
    }

    fn top(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        match self.stack.last_mut() {
            Some((_, map)) => map,
            None => &mut self.root,
        }
    }

    /// Closes what is open and returns the top-level object.
    pub fn finish(mut self) -> serde_json::Map<String, serde_json::Value> {
        while !self.stack.is_empty() {
            Doc::close(&mut self);
        }
        self.root
    }
}

impl Doc for JsonDoc {
    fn open(&mut self, name: &'static str) -> &mut Self {
        self.stack.push((name, serde_json::Map::new()));
        self
    }

    fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self {
        self.top().insert(name.to_string(), text.into());
        self
    }

    fn close(&mut self) -> &mut Self {
        if let Some((name, map)) = self.stack.pop() {
            self.top().insert(name.to_string(), map.into());
        }
        self
    }
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_xml_cannot_carry_is_replaced_and_cr_kept() {
        let mut w = XmlWriter::new();
        w.leaf("K", "a\u{1}b\rc\td\ne&\u{FFFF}");
        let doc = w.finish();
        assert!(
            doc.ends_with("<K>a\u{FFFD}b&#13;c\td\ne&amp;\u{FFFD}</K>"),
            "{doc}"
        );
    }

    #[test]
    fn the_same_tree_as_json() {
        let mut d = JsonDoc::new();
        Doc::open(&mut d, "A");
        Doc::leaf(&mut d, "B", "1");
        Doc::open(&mut d, "C");
        Doc::leaf(&mut d, "D", "x<y");
        let v = serde_json::Value::Object(d.finish());
        assert_eq!(v, serde_json::json!({"A": {"B": "1", "C": {"D": "x<y"}}}));
    }

    #[test]
    fn escapes_text_and_closes_everything() {
        let mut w = XmlWriter::new();
        w.open("Error")
            .leaf("Code", "A&B")
            .leaf("Message", "")
            .open("X")
            .leaf("K", "<k>");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>A&amp;B</Code><Message/><X><K>&lt;k&gt;</K></X></Error>"
        );
    }
}
