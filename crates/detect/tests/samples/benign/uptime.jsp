<%@ page import="java.io.*" %>
<%
    // Status page: one fixed command, no input.
    Process p = Runtime.getRuntime().exec(new String[] {"uptime"});
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
    out.println(r.readLine());
    p.waitFor();
%>
