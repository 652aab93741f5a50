<%@ page contentType="text/html; charset=UTF-8" %>
<%@ taglib prefix="c" uri="jakarta.tags.core" %>
<%@ taglib prefix="fn" uri="jakarta.tags.functions" %>
<html><body>
<h1>Request parameters</h1>
<table>
<%
    java.util.Enumeration<String> names = request.getParameterNames();
    while (names.hasMoreElements()) {
        String name = names.nextElement();
        String value = request.getParameter(name);
        pageContext.setAttribute("n", name);
        pageContext.setAttribute("v", value);
%>
  <tr><td>${fn:escapeXml(n)}</td><td>${fn:escapeXml(v)}</td></tr>
<%
    }
%>
</table>
<p>Searched for: <c:out value="${param.q}" /></p>
</body></html>
