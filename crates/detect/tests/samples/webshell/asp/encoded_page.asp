<%@ LANGUAGE = VBScript.Encode %>
<html><body>
<%#@~^HQAAAA==@#@&]+daW	/+cqDbY+,Jt+VsWEPAQAAAA==^#~@%>
</body></html>
