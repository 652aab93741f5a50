package org.example.build;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/** Reads the current git revision at build time: fixed commands only. */
public final class GitVersion {
    private GitVersion() {}

    public static String revision() throws IOException, InterruptedException {
        Process p = Runtime.getRuntime().exec(new String[] {"git", "rev-parse", "--short", "HEAD"});
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line = r.readLine();
            p.waitFor();
            return line == null ? "unknown" : line.trim();
        }
    }

    public static int hostname() throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("hostname");
        pb.inheritIO();
        return pb.start().waitFor();
    }
}
