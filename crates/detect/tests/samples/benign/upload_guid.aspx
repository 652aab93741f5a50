<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
private static readonly string[] Allowed = { ".png", ".jpg", ".pdf" };

protected void Upload_Click(object sender, EventArgs e)
{
    if (!FileUpload1.HasFile) return;
    string ext = Path.GetExtension(FileUpload1.FileName).ToLowerInvariant();
    if (Array.IndexOf(Allowed, ext) < 0) { lblStatus.Text = "Type not allowed."; return; }
    string folder = Server.MapPath("~/App_Data/uploads/");
    Directory.CreateDirectory(folder);
    string name = Guid.NewGuid().ToString("N") + ext;
    FileUpload1.SaveAs(Path.Combine(folder, name));
    lblStatus.Text = "Saved as " + Server.HtmlEncode(name) + " (" + Request.Files.Count + " file).";
}
</script>
<html><body><form runat="server">
<asp:FileUpload ID="FileUpload1" runat="server" />
<asp:Button runat="server" Text="Upload" OnClick="Upload_Click" />
<asp:Label ID="lblStatus" runat="server" />
</form></body></html>
