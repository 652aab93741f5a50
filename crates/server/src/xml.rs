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
            self.out.push_str(&escape(text));
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

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
