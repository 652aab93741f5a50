// hashscan default pack: PHP webshells.
//
// Every rule needs a dangerous sink (eval, assert, a command or file function, a callback)
// together with request input or an obfuscation that ordinary code does not use, so that
// PHP applications stay quiet: the pack is checked against WordPress, phpMyAdmin,
// MediaWiki, Roundcube, Symfony, Laravel and more (scripts/fetch-fp-corpus,
// crates/detect/tests/false_positives.rs). Patterns marked `private` are context that must
// be present but is not reported as a match; the public patterns point at the malicious
// code itself, since every match becomes a highlighted range.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.
// PHP function names are case-insensitive, hence `nocase` on the patterns that name them.

import "math"

// `<?php @eval($_POST['x']);?>` and its relatives: the China Chopper server side, often
// appended to an image or to another PHP file.
rule PHP_China_Chopper_OneLiner
{
    meta:
        description = "China Chopper style PHP one-line webshell: eval/assert of a request parameter right after the PHP open tag"
        threat_type = "WebShell"
        score = 100
    strings:
        $one = /<\?(php|=)?\s*(\/\*[^*]{0,60}\*\/\s*)?@?\s*(eval|assert)\s*\(\s*@?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[\s*['"]?[\w\-]{1,40}['"]?\s*\]\s*\)/ nocase
    condition:
        filesize < 16MB and ($one)
}

// eval()/assert() of request input, possibly through decoders, and include of the request
// body (include('php://input')):
// eval(base64_decode($_POST['c'])), assert(stripslashes($_REQUEST['x'])),
// eval(file_get_contents('php://input')), eval($_SERVER['HTTP_X_CMD']), eval("?>".$_POST[c]).
rule PHP_Eval_Request_Input
{
    meta:
        description = "PHP eval/assert of code taken from the HTTP request"
        threat_type = "WebShell"
        score = 95
    strings:
        $eval = /\b(eval|assert)\s*\(\s*(@?\s*(base64_decode|str_rot13|gzinflate|gzuncompress|gzdecode|strrev|stripslashes|trim|urldecode|rawurldecode|hex2bin|convert_uudecode|html_entity_decode|htmlspecialchars_decode|file_get_contents|implode|join|strval)\s*\(\s*){0,4}(["'][^"'\r\n]{0,20}["']\s*\.\s*)?@?\s*(\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|\$\{\s*["']_(GET|POST|REQUEST|COOKIE|SERVER)|\$GLOBALS\s*\[\s*["']_(GET|POST|REQUEST|COOKIE|SERVER)|\$HTTP_(GET|POST|COOKIE)_VARS|\$HTTP_RAW_POST_DATA|["']php:\/\/input|getallheaders\s*\()/ nocase
        $include = /\b(include|include_once|require|require_once)\s*\(?\s*@?\s*(["']php:\/\/input|\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']tmp_name)/ nocase
    condition:
        filesize < 16MB and ($eval or $include)
}

// A function whose name comes from the request, called with request input:
// $_GET['f']($_POST['c']), or $f = $_GET['f']; ... $f($_POST['c']);
// and the extract() variant: @extract($_POST); @$a($b);
rule PHP_Variable_Function_Request
{
    meta:
        description = "PHP variable function call whose name and argument come from the HTTP request"
        threat_type = "WebShell"
        score = 90
    strings:
        $direct = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/
        $call = /[^\w>:$\\]\$[a-zA-Z_]\w{0,30}\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/
        $assign = /\$[a-zA-Z_]\w{0,30}\s*=\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*;/ private
        $cbvar = /[^\w>:$\\](array_map|call_user_func|call_user_func_array|register_shutdown_function|register_tick_function|forward_static_call|forward_static_call_array)\s*\(\s*\$[a-zA-Z_]\w{0,30}\s*,/ nocase
        $pair = /\$[a-zA-Z_]\w{0,30}\s*=\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*;[\s\S]{0,300}[^\w>:$\\]@?\$[a-zA-Z_]\w{0,30}\s*\(\s*@?\s*\$[a-zA-Z_]\w{0,30}\s*\)/
        $extract = /\bextract\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)\s*\)[\s\S]{0,400}[^\w>:$\\]@?\$[a-zA-Z_]\w{0,30}\s*\(\s*@?\s*\$[a-zA-Z_]\w{0,30}\s*\)/ nocase
    condition:
        filesize < 16MB and (
            $direct
            or (filesize < 100KB and $assign and $call)
            or (filesize < 8KB and $extract)
            or (filesize < 4KB and $pair)
            or (filesize < 20KB and for any i in (1..math.min(#cbvar, 50)) : (
                $assign in (@cbvar[i] - 512 .. @cbvar[i])
            ))
        )
}

// The name of eval/assert/system… hidden from a casual reader: split into concatenated
// pieces ('as'.'sert'), escaped ("\x61\x73…", "\141\163…"), encoded (base64_decode('YXNzZXJ0'),
// strrev('tressa'), str_rot13('nffreg')) or spelled with chr() — and then called, or used
// next to request input.
rule PHP_Obfuscated_Function_Name
{
    meta:
        description = "PHP code that hides the name of eval/assert/system or another dangerous function and calls it"
        threat_type = "WebShell"
        score = 85
    strings:
        $hex_assert = "\\x61\\x73\\x73\\x65\\x72\\x74" nocase
        $oct_assert = "\\141\\163\\163\\145\\162\\164"
        $hex_eval = "\\x65\\x76\\x61\\x6c" nocase
        $oct_eval = "\\145\\166\\141\\154"
        $hex_system = "\\x73\\x79\\x73\\x74\\x65\\x6d" nocase
        $oct_system = "\\163\\171\\163\\164\\145\\155"
        $hex_passthru = "\\x70\\x61\\x73\\x73\\x74\\x68\\x72\\x75" nocase
        $oct_passthru = "\\160\\141\\163\\163\\164\\150\\162\\165"
        $hex_shell_exec = "\\x73\\x68\\x65\\x6c\\x6c\\x5f\\x65\\x78\\x65\\x63" nocase
        $oct_shell_exec = "\\163\\150\\145\\154\\154\\137\\145\\170\\145\\143"
        $hex_create_function = "\\x63\\x72\\x65\\x61\\x74\\x65\\x5f\\x66\\x75\\x6e\\x63\\x74\\x69\\x6f\\x6e" nocase
        $oct_create_function = "\\143\\162\\145\\141\\164\\145\\137\\146\\165\\156\\143\\164\\151\\157\\156"
        $hex_base64_decode = "\\x62\\x61\\x73\\x65\\x36\\x34\\x5f\\x64\\x65\\x63\\x6f\\x64\\x65" nocase
        $oct_base64_decode = "\\142\\141\\163\\145\\066\\064\\137\\144\\145\\143\\157\\144\\145"
        $hex_gzinflate = "\\x67\\x7a\\x69\\x6e\\x66\\x6c\\x61\\x74\\x65" nocase
        $oct_gzinflate = "\\147\\172\\151\\156\\146\\154\\141\\164\\145"
        $hex_str_rot13 = "\\x73\\x74\\x72\\x5f\\x72\\x6f\\x74\\x31\\x33" nocase
        $oct_str_rot13 = "\\163\\164\\162\\137\\162\\157\\164\\061\\063"
        $hex_call_user_func = "\\x63\\x61\\x6c\\x6c\\x5f\\x75\\x73\\x65\\x72\\x5f\\x66\\x75\\x6e\\x63" nocase
        $oct_call_user_func = "\\143\\141\\154\\154\\137\\165\\163\\145\\162\\137\\146\\165\\156\\143"
        $hex_proc_open = "\\x70\\x72\\x6f\\x63\\x5f\\x6f\\x70\\x65\\x6e" nocase
        $oct_proc_open = "\\160\\162\\157\\143\\137\\157\\160\\145\\156"
        $encoded_name = /\b(base64_decode\s*\(\s*["']YXNzZXJ0["']|strrev\s*\(\s*["']tressa["']|str_rot13\s*\(\s*["']nffreg["']|base64_decode\s*\(\s*["']ZXZhbA==["']|strrev\s*\(\s*["']lave["']|str_rot13\s*\(\s*["']riny["']|base64_decode\s*\(\s*["']c3lzdGVt["']|strrev\s*\(\s*["']metsys["']|str_rot13\s*\(\s*["']flfgrz["']|base64_decode\s*\(\s*["']cGFzc3RocnU=["']|strrev\s*\(\s*["']urhtssap["']|str_rot13\s*\(\s*["']cnffgueh["']|base64_decode\s*\(\s*["']c2hlbGxfZXhlYw==["']|strrev\s*\(\s*["']cexe_llehs["']|str_rot13\s*\(\s*["']furyy_rkrp["']|base64_decode\s*\(\s*["']Y3JlYXRlX2Z1bmN0aW9u["']|strrev\s*\(\s*["']noitcnuf_etaerc["']|str_rot13\s*\(\s*["']perngr_shapgvba["']|base64_decode\s*\(\s*["']YmFzZTY0X2RlY29kZQ==["']|strrev\s*\(\s*["']edoced_46esab["']|str_rot13\s*\(\s*["']onfr64_qrpbqr["']|base64_decode\s*\(\s*["']Z3ppbmZsYXRl["']|strrev\s*\(\s*["']etalfnizg["']|str_rot13\s*\(\s*["']tmvasyngr["']|base64_decode\s*\(\s*["']c3RyX3JvdDEz["']|strrev\s*\(\s*["']31tor_rts["']|str_rot13\s*\(\s*["']fge_ebg13["']|base64_decode\s*\(\s*["']Y2FsbF91c2VyX2Z1bmM=["']|strrev\s*\(\s*["']cnuf_resu_llac["']|str_rot13\s*\(\s*["']pnyy_hfre_shap["']|base64_decode\s*\(\s*["']cHJvY19vcGVu["']|strrev\s*\(\s*["']nepo_corp["']|str_rot13\s*\(\s*["']cebp_bcra["'])\s*\)/ nocase
        $split_assert = /["'](a["']\s*\.\s*["']ssert|as["']\s*\.\s*["']sert|ass["']\s*\.\s*["']ert|asse["']\s*\.\s*["']rt|asser["']\s*\.\s*["']t|a["']\s*\.\s*["']s["']\s*\.\s*["']sert|a["']\s*\.\s*["']ss["']\s*\.\s*["']ert|a["']\s*\.\s*["']sse["']\s*\.\s*["']rt|a["']\s*\.\s*["']sser["']\s*\.\s*["']t|as["']\s*\.\s*["']s["']\s*\.\s*["']ert|as["']\s*\.\s*["']se["']\s*\.\s*["']rt|as["']\s*\.\s*["']ser["']\s*\.\s*["']t|ass["']\s*\.\s*["']e["']\s*\.\s*["']rt|ass["']\s*\.\s*["']er["']\s*\.\s*["']t|asse["']\s*\.\s*["']r["']\s*\.\s*["']t)["']/ nocase
        $split_eval = /["'](e["']\s*\.\s*["']val|ev["']\s*\.\s*["']al|eva["']\s*\.\s*["']l|e["']\s*\.\s*["']v["']\s*\.\s*["']al|e["']\s*\.\s*["']va["']\s*\.\s*["']l|ev["']\s*\.\s*["']a["']\s*\.\s*["']l)["']/ nocase
        $split_system = /["'](s["']\s*\.\s*["']ystem|sy["']\s*\.\s*["']stem|sys["']\s*\.\s*["']tem|syst["']\s*\.\s*["']em|syste["']\s*\.\s*["']m|s["']\s*\.\s*["']y["']\s*\.\s*["']stem|s["']\s*\.\s*["']ys["']\s*\.\s*["']tem|s["']\s*\.\s*["']yst["']\s*\.\s*["']em|s["']\s*\.\s*["']yste["']\s*\.\s*["']m|sy["']\s*\.\s*["']s["']\s*\.\s*["']tem|sy["']\s*\.\s*["']st["']\s*\.\s*["']em|sy["']\s*\.\s*["']ste["']\s*\.\s*["']m|sys["']\s*\.\s*["']t["']\s*\.\s*["']em|sys["']\s*\.\s*["']te["']\s*\.\s*["']m|syst["']\s*\.\s*["']e["']\s*\.\s*["']m)["']/ nocase
        $split_passthru = /["'](p["']\s*\.\s*["']assthru|pa["']\s*\.\s*["']ssthru|pas["']\s*\.\s*["']sthru|pass["']\s*\.\s*["']thru|passt["']\s*\.\s*["']hru|passth["']\s*\.\s*["']ru|passthr["']\s*\.\s*["']u|p["']\s*\.\s*["']a["']\s*\.\s*["']ssthru|p["']\s*\.\s*["']as["']\s*\.\s*["']sthru|p["']\s*\.\s*["']ass["']\s*\.\s*["']thru|p["']\s*\.\s*["']asst["']\s*\.\s*["']hru|p["']\s*\.\s*["']assth["']\s*\.\s*["']ru|p["']\s*\.\s*["']assthr["']\s*\.\s*["']u|pa["']\s*\.\s*["']s["']\s*\.\s*["']sthru|pa["']\s*\.\s*["']ss["']\s*\.\s*["']thru|pa["']\s*\.\s*["']sst["']\s*\.\s*["']hru|pa["']\s*\.\s*["']ssth["']\s*\.\s*["']ru|pa["']\s*\.\s*["']ssthr["']\s*\.\s*["']u|pas["']\s*\.\s*["']s["']\s*\.\s*["']thru|pas["']\s*\.\s*["']st["']\s*\.\s*["']hru|pas["']\s*\.\s*["']sth["']\s*\.\s*["']ru|pas["']\s*\.\s*["']sthr["']\s*\.\s*["']u|pass["']\s*\.\s*["']t["']\s*\.\s*["']hru|pass["']\s*\.\s*["']th["']\s*\.\s*["']ru|pass["']\s*\.\s*["']thr["']\s*\.\s*["']u|passt["']\s*\.\s*["']h["']\s*\.\s*["']ru|passt["']\s*\.\s*["']hr["']\s*\.\s*["']u|passth["']\s*\.\s*["']r["']\s*\.\s*["']u)["']/ nocase
        $split_shell_exec = /["'](s["']\s*\.\s*["']hell_exec|sh["']\s*\.\s*["']ell_exec|she["']\s*\.\s*["']ll_exec|shel["']\s*\.\s*["']l_exec|shell["']\s*\.\s*["']_exec|shell_["']\s*\.\s*["']exec|shell_e["']\s*\.\s*["']xec|shell_ex["']\s*\.\s*["']ec|shell_exe["']\s*\.\s*["']c)["']/ nocase
        $split_create_function = /["'](c["']\s*\.\s*["']reate_function|cr["']\s*\.\s*["']eate_function|cre["']\s*\.\s*["']ate_function|crea["']\s*\.\s*["']te_function|creat["']\s*\.\s*["']e_function|create["']\s*\.\s*["']_function|create_["']\s*\.\s*["']function|create_f["']\s*\.\s*["']unction|create_fu["']\s*\.\s*["']nction|create_fun["']\s*\.\s*["']ction|create_func["']\s*\.\s*["']tion|create_funct["']\s*\.\s*["']ion|create_functi["']\s*\.\s*["']on|create_functio["']\s*\.\s*["']n)["']/ nocase
        $split_base64_decode = /["'](b["']\s*\.\s*["']ase64_decode|ba["']\s*\.\s*["']se64_decode|bas["']\s*\.\s*["']e64_decode|base["']\s*\.\s*["']64_decode|base6["']\s*\.\s*["']4_decode|base64["']\s*\.\s*["']_decode|base64_["']\s*\.\s*["']decode|base64_d["']\s*\.\s*["']ecode|base64_de["']\s*\.\s*["']code|base64_dec["']\s*\.\s*["']ode|base64_deco["']\s*\.\s*["']de|base64_decod["']\s*\.\s*["']e)["']/ nocase
        $split_gzinflate = /["'](g["']\s*\.\s*["']zinflate|gz["']\s*\.\s*["']inflate|gzi["']\s*\.\s*["']nflate|gzin["']\s*\.\s*["']flate|gzinf["']\s*\.\s*["']late|gzinfl["']\s*\.\s*["']ate|gzinfla["']\s*\.\s*["']te|gzinflat["']\s*\.\s*["']e)["']/ nocase
        $split_str_rot13 = /["'](s["']\s*\.\s*["']tr_rot13|st["']\s*\.\s*["']r_rot13|str["']\s*\.\s*["']_rot13|str_["']\s*\.\s*["']rot13|str_r["']\s*\.\s*["']ot13|str_ro["']\s*\.\s*["']t13|str_rot["']\s*\.\s*["']13|str_rot1["']\s*\.\s*["']3)["']/ nocase
        $split_call_user_func = /["'](c["']\s*\.\s*["']all_user_func|ca["']\s*\.\s*["']ll_user_func|cal["']\s*\.\s*["']l_user_func|call["']\s*\.\s*["']_user_func|call_["']\s*\.\s*["']user_func|call_u["']\s*\.\s*["']ser_func|call_us["']\s*\.\s*["']er_func|call_use["']\s*\.\s*["']r_func|call_user["']\s*\.\s*["']_func|call_user_["']\s*\.\s*["']func|call_user_f["']\s*\.\s*["']unc|call_user_fu["']\s*\.\s*["']nc|call_user_fun["']\s*\.\s*["']c)["']/ nocase
        $split_proc_open = /["'](p["']\s*\.\s*["']roc_open|pr["']\s*\.\s*["']oc_open|pro["']\s*\.\s*["']c_open|proc["']\s*\.\s*["']_open|proc_["']\s*\.\s*["']open|proc_o["']\s*\.\s*["']pen|proc_op["']\s*\.\s*["']en|proc_ope["']\s*\.\s*["']n)["']/ nocase
        $chr_chain = /\bchr\s*\(\s*(4[89]|5[0-7]|9[5-9]|1[01][0-9]|12[0-2])\s*\)(\s*\.\s*chr\s*\(\s*(4[89]|5[0-7]|9[5-9]|1[01][0-9]|12[0-2])\s*\)){3,}/ nocase
        $req = /\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|php:\/\/input|\$\{\s*["']_[GPRC]/ private
        $evalcall = /\b(eval|assert)\s*\(/ nocase private
    condition:
        filesize < 1MB and any of ($hex_*, $oct_*, $encoded_name, $split_*, $chr_chain) and ($req or $evalcall)
}

// eval() of a decoder chain: eval(gzinflate(base64_decode(…))), eval(str_rot13(gzuncompress(…))),
// or of a decoded string literal: eval(base64_decode('ZWNobyAi…')).
rule PHP_Obfuscated_Eval_Chain
{
    meta:
        description = "PHP eval/assert of a nested decoder chain (base64, gzinflate, str_rot13 …): packed code"
        threat_type = "WebShell"
        score = 85
    strings:
        $chain = /\b(eval|assert)\s*\(\s*(["']\?>["']\s*\.\s*)?(@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|convert_uudecode|hex2bin|rawurldecode|urldecode|pack)\s*\(\s*){2,}/ nocase
        $literal = /\b(eval|assert)\s*\(\s*(["']\?>["']\s*\.\s*)?@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|convert_uudecode|hex2bin)\s*\(\s*["'][A-Za-z0-9+\/=]{32}/ nocase
        $b64var = /\b(eval|assert)\s*\(\s*@?\s*(base64_decode|gzinflate|gzuncompress|str_rot13)\s*\(\s*(\$[a-zA-Z_]\w{0,30}\s*\)\s*\)|[a-z_]\w{0,30}\s*\(\s*\$)/ nocase
    condition:
        filesize < 16MB and (any of them)
}

// A long encoded blob next to eval(): the payload of packed shells (WSO, b374k …) kept in
// a variable and evaluated after decoding.
rule PHP_Encoded_Payload_Eval
{
    meta:
        description = "PHP file with a long base64 blob that is decoded and passed to eval/assert/create_function"
        threat_type = "WebShell"
        score = 80
    strings:
        $eval = /\b(eval|assert|create_function)\s*\(/ nocase
        $decode = /\b(base64_decode|gzinflate|gzuncompress|str_rot13|convert_uudecode)\s*\(/ nocase private
        $blob = /["'][A-Za-z0-9+\/]{200}[A-Za-z0-9+\/]{800}/ private
    condition:
        filesize < 2MB and $eval and $decode and $blob
}

// preg_replace() with the /e modifier (evaluates the replacement as PHP, PHP < 7) fed with
// request input or a decoder, or a pattern supplied by the request.
rule PHP_Preg_Replace_Eval
{
    meta:
        description = "PHP preg_replace with the /e (eval) modifier on request input"
        threat_type = "WebShell"
        score = 90
    strings:
        $e_mod = /\b(preg_replace|preg_filter)\s*\(\s*["'][^"'\r\n]{1,100}[\/#|~!@%}][imsxuADSUX]{0,8}e[imsxuADSUX]{0,8}["']\s*,[^;]{0,300}(\$_(GET|POST|REQUEST|COOKIE|SERVER)|base64_decode|str_rot13|gzinflate)/ nocase
        $mb_e = /\bmb_(ereg_replace|eregi_replace)\s*\([^;]{0,200}\$_(GET|POST|REQUEST|COOKIE)[^;]{0,200}["']e["']\s*\)/ nocase
        $req_pattern = /\b(preg_replace|preg_filter)\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*,\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)/ nocase
    condition:
        filesize < 16MB and (any of them)
}

// Callbacks chosen by the request: call_user_func($_GET['f'], $_POST['c']),
// array_map($_REQUEST['f'], array($_POST['c'])), usort($arr, $_GET['f']),
// register_shutdown_function($_POST['f'], …), create_function('', $_POST['c']).
rule PHP_Callback_Request_Function
{
    meta:
        description = "PHP callback (call_user_func, array_map, usort, create_function …) whose function or code comes from the HTTP request"
        threat_type = "WebShell"
        score = 90
    strings:
        $first = /\b(call_user_func|call_user_func_array|array_map|register_shutdown_function|register_tick_function|forward_static_call|forward_static_call_array|ob_start|set_error_handler|set_exception_handler|spl_autoload_register|iterator_apply)\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $last = /\b(array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|array_reduce|array_diff_ukey|array_intersect_ukey|array_udiff|array_uintersect)\s*\([^;()]{0,100}(\([^;()]{0,200}\)[^;()]{0,100})?,\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\)/ nocase
        $named_first = /\b(call_user_func|call_user_func_array|array_map|register_shutdown_function|register_tick_function|forward_static_call|forward_static_call_array)\s*\(\s*["'](assert|eval|system|exec|shell_exec|passthru|popen|proc_open|create_function|pcntl_exec)["'][^;]{0,200}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        $named_last = /\b(array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|array_reduce)\s*\([^;]{0,200}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b[^;]{0,200},\s*["'](assert|system|exec|shell_exec|passthru|popen|create_function)["']\s*\)/ nocase
        $pcb = /\bpreg_replace_callback\s*\(\s*[^,;]{1,100},\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $reflect = /\bnew\s+ReflectionFunction\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $cf = /\bcreate_function\s*\([^;]{0,100}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
    condition:
        filesize < 16MB and (any of them)
}

// Shell commands straight from the request: system($_GET['c']), passthru('ls '.$_POST['d']),
// shell_exec("$_REQUEST[c]"), `$_GET[c]`.
rule PHP_Command_Exec_Request
{
    meta:
        description = "PHP shell command (system, exec, passthru, shell_exec, popen, proc_open, backticks) built from the HTTP request"
        threat_type = "WebShell"
        score = 95
    strings:
        $call = /[^\w>:$\\](system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*(@?\s*(base64_decode|str_rot13|stripslashes|trim|urldecode|rawurldecode|escapeshellcmd|hex2bin|strrev)\s*\(\s*){0,3}(["'][^"'$\r\n]{0,40}["']\s*\.\s*)?["']?\{?@?\s*(\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|getenv\s*\(\s*["']HTTP_|getallheaders\s*\(|apache_request_headers\s*\(|\$\{\s*["']_(GET|POST|REQUEST|COOKIE)["']\s*\}|\$GLOBALS\s*\[\s*["']_(GET|POST|REQUEST|COOKIE)["'])/ nocase
        $tick = /(=|\(|\becho|\bprint|\breturn)\s*`\s*\{?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[[^\]`\r\n]{1,40}\]\s*\}?\s*`/ nocase
    condition:
        filesize < 16MB and (any of them)
}

// The request parameter stored in a variable first, then run:
// $cmd = $_REQUEST['cmd']; system($cmd);
rule PHP_Command_Exec_Request_Var
{
    meta:
        description = "PHP shell command run from a variable assigned from the HTTP request just before"
        threat_type = "WebShell"
        score = 80
    strings:
        $assign = /\$[a-zA-Z_]\w{0,30}\s*=\s*(\(?\s*(\(\s*(string|array)\s*\)\s*)?(@?\s*(trim|stripslashes|base64_decode|urldecode|rawurldecode|str_rot13|gzinflate|gzuncompress|hex2bin|file_get_contents)\s*\(\s*){0,3}@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[|(isset|!\s*empty)\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\)\s*\?\s*\(?\s*(\(\s*(string|array)\s*\)\s*)?(@?\s*(trim|stripslashes|base64_decode|urldecode|rawurldecode|str_rot13|gzinflate|gzuncompress|hex2bin|file_get_contents)\s*\(\s*){0,3}@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[)/ nocase private
        // On a line that is not a comment: from the start of the line to the call.
        $sink = /(^|\n)[ \t]*([^\/#*\s][^\r\n]{0,200}[^\w>:$\\]|[^\w>:$\\\/#*\s]|)(system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*["']?\$[a-zA-Z_]\w{0,30}/ nocase
        // Backticks printed straight away: echo `$c`;
        $tick = /\b(echo|print|die|exit)\s*\(?\s*`\s*\{?\s*\$[a-zA-Z_]\w{0,30}\s*\}?\s*`/ nocase
    condition:
        filesize < 500KB and
        (
            for any i in (1..math.min(#sink, 50)) : (
                $assign in (@sink[i] + !sink[i] - 512 .. @sink[i] + !sink[i])
            )
            or for any i in (1..math.min(#tick, 50)) : (
                $assign in (@tick[i] - 512 .. @tick[i])
            )
        )
}

// The request input stored in a variable first, then evaluated:
// $a = $_POST['a']; @eval($a);
rule PHP_Eval_Request_Var
{
    meta:
        description = "PHP eval/assert of a variable assigned from the HTTP request just before"
        threat_type = "WebShell"
        score = 80
    strings:
        $assign = /\$[a-zA-Z_]\w{0,30}\s*=\s*(\(?\s*(\(\s*(string|array)\s*\)\s*)?(@?\s*(trim|stripslashes|base64_decode|urldecode|rawurldecode|str_rot13|gzinflate|gzuncompress|hex2bin|file_get_contents)\s*\(\s*){0,3}@?\s*(\$_(GET|POST|REQUEST|COOKIE)\s*\[|["']php:\/\/input)|(isset|!\s*empty)\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\)\s*\?\s*\(?\s*(\(\s*(string|array)\s*\)\s*)?(@?\s*(trim|stripslashes|base64_decode|urldecode|rawurldecode|str_rot13|gzinflate|gzuncompress|hex2bin|file_get_contents)\s*\(\s*){0,3}@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[)/ nocase private
        // On a line that is not a comment: from the start of the line to the call.
        $sink = /(^|\n)[ \t]*([^\/#*\s][^\r\n]{0,200}[^\w>:$\\]|[^\w>:$\\\/#*\s]|)((eval|assert)\s*\(\s*(["'][^"'\r\n]{0,20}["']\s*\.\s*)?\$[a-zA-Z_]\w{0,30}\s*(\.\s*["'][^"'\r\n]{0,20}["']\s*)?\)|create_function\s*\(\s*["'][^"'\r\n]{0,40}["']\s*,\s*\$[a-zA-Z_]\w{0,30}\s*\))/ nocase
    condition:
        filesize < 500KB and
        for any i in (1..math.min(#sink, 50)) : (
            $assign in (@sink[i] + !sink[i] - 512 .. @sink[i] + !sink[i])
        )
}

// Behinder / Godzilla for PHP: the request body or a parameter decrypted (openssl_decrypt,
// or Godzilla's XOR with a 16-byte key) and evaluated, the payload kept in the session.
rule PHP_Encrypted_Request_Eval
{
    meta:
        description = "PHP that decrypts code from the HTTP request (AES or XOR) and evaluates it (Behinder/Godzilla style)"
        threat_type = "WebShell"
        score = 90
    strings:
        $eval = /\b(eval|assert)\s*\(\s*\$[a-zA-Z_]\w{0,30}\s*(\.\s*["'][^"'\r\n]{0,20}["']\s*)?\)/ nocase
        $aes = /\b(openssl_decrypt|mcrypt_decrypt)\s*\(/ nocase private
        $xor = /\$[a-zA-Z_]\w{0,30}\s*\[\s*\(?\s*\$[a-zA-Z_]\w{0,30}\s*\+\s*1\s*\)?\s*&\s*15\s*\]/ private
        $input = /php:\/\/input|\$_POST\s*\[|\$_REQUEST\s*\[/ nocase private
        $session = /\$_SESSION\s*\[|__invoke/ nocase private
    condition:
        filesize < 100KB and $eval and ($aes or $xor) and $input and $session
}

// Reverse shells dropped as PHP pages: a socket to the attacker wired to /bin/sh.
rule PHP_Reverse_Shell
{
    meta:
        description = "PHP reverse shell: opens a socket and connects it to a system shell"
        threat_type = "WebShell"
        score = 90
    strings:
        $sock = /\b(fsockopen|socket_create|stream_socket_client|stream_socket_server|socket_bind)\b/ nocase
        $shell = /\/bin\/(ba)?sh\b|cmd\.exe/ nocase private
        $run = /[^\w>:$\\](proc_open|shell_exec|system|exec|passthru|popen)\s*\(/ nocase private
        $fd = /<&\s*\d|>&\s*\d|\bdescriptorspec\b|array\s*\(\s*0\s*=>\s*\$/ nocase private
        $pty = /pty\.spawn|\bsocket_read\s*\(|\bfgets\s*\(\s*\$sock|\bstream_select\s*\(/ nocase private
    condition:
        filesize < 200KB and $sock and $shell and ($run or $fd or $pty)
}

// Arbitrary file write where both the file name and the content come from the request:
// file_put_contents($_POST['f'], $_POST['d']), fwrite(fopen($_GET['f'],'w'), $_POST['d']).
rule PHP_File_Write_Request
{
    meta:
        description = "PHP write of request-supplied content to a request-supplied file name (webshell dropper)"
        threat_type = "WebShell"
        score = 85
    strings:
        $put = /\bfile_put_contents\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*,\s*(@?\s*(base64_decode|stripslashes|urldecode|rawurldecode|str_rot13|gzinflate|hex2bin)\s*\(\s*){0,3}@?\s*(\$_(GET|POST|REQUEST|COOKIE)\b|file_get_contents\s*\(\s*["']php:\/\/input)/ nocase
        $fw = /\bfwrite\s*\(\s*@?\s*fopen\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^;]{0,80}\)\s*,\s*(@?\s*(base64_decode|stripslashes|urldecode|rawurldecode|str_rot13|gzinflate|hex2bin)\s*\(\s*){0,3}@?\s*\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $up = /\b(move_uploaded_file|copy)\s*\(\s*\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']tmp_name["']\s*\]\s*,\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
    condition:
        filesize < 16MB and (any of them)
}

// A bare uploader: a small file that saves the upload under the client's own file name in
// the current directory.
rule PHP_Tiny_Uploader
{
    meta:
        description = "Small PHP uploader that stores an uploaded file under its client-supplied name in the web directory"
        threat_type = "WebShell"
        score = 75
    strings:
        $up = /\b(move_uploaded_file|copy)\s*\(\s*\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']tmp_name["']\s*\]\s*,\s*\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']name["']\s*\]\s*\)/ nocase
    condition:
        filesize < 3KB and $up
}

// File managers (WSO, c99, r57, b374k, FilesMan …): file functions applied to request
// input directly, plus the usual server-reconnaissance UI.
rule PHP_Webshell_File_Manager
{
    meta:
        description = "PHP webshell file manager: file operations on request-supplied paths with server reconnaissance output"
        threat_type = "WebShell"
        score = 80
    strings:
        $op = /\b(unlink|rmdir|scandir|opendir|readfile|show_source|highlight_file|file_get_contents|file_put_contents|chmod|rename|copy|mkdir|touch|fopen|move_uploaded_file|filemtime|is_dir)\s*\(\s*@?\s*(base64_decode\s*\(\s*|urldecode\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $m1 = "uname -a" nocase private
        $m2 = "safe_mode" nocase private
        $m3 = "disable_functions" nocase private
        $m4 = "posix_getpwuid" nocase private
        $m5 = "php_uname" nocase private
        $m6 = "FilesMan" nocase private
        $m7 = "/etc/passwd" private
        $m8 = "Back Connect" nocase private
        $m9 = "bind port" nocase private
        $m10 = "Self remove" nocase private
        $m11 = "open_basedir" nocase private
        $m12 = "getmyuid" nocase private
        $m13 = "fileperms" nocase private
        $m14 = "shell_exec" nocase private
        $m15 = "Upload file" nocase private
        $m16 = "move_uploaded_file" nocase private
    condition:
        filesize < 1MB and #op >= 2 and 4 of ($m*)
}

// ---------------------------------------------------------------------------------------
// Behaviour of whole pages. The rules above look for one dangerous call fed by the request;
// the ones below characterise a page by what it offers its user: a command box, a file
// manager with server reconnaissance, a packed loader, an uploader. Old shells rely on
// register_globals (`system($cmd)` with `$cmd` never assigned), so the request is often
// not visible at the call: the page's own form is.
// ---------------------------------------------------------------------------------------

// A shell command run from a variable or an expression (not a constant string alone).
private rule PHP_Cap_Exec
{
    strings:
        $call = /[^\w>:$\\](system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*[@(]*\s*(\$|'[^'\r\n;]{0,80}'\s*\.\s*[$a-z_]|"[^"\r\n;]{0,80}"\s*\.\s*[$a-z_]|"[^"\r\n;]{0,60}\$)/ nocase
        $tick = /`\{?\$[a-zA-Z_][^`\r\n]{0,60}`/
    condition:
        filesize < 4MB and ($call or $tick)
}

// eval/assert/create_function of something that is not a constant string.
private rule PHP_Cap_Eval
{
    strings:
        $eval = /[^\w>:$\\](eval|assert)\s*\(\s*[@(]*\s*(\$|["'][^"'\r\n;]{0,40}["']\s*\.\s*\$|[a-z_0-9]{2,30}\s*\(\s*\$|(base64_decode|gzinflate|gzuncompress|str_rot13|strrev|hex2bin)\s*\()/ nocase
        $cf = /\bcreate_function\s*\(\s*[^,;]{0,80},\s*[@(]*\s*\$/ nocase
    condition:
        filesize < 4MB and ($eval or $cf)
}

// Server reconnaissance that webshells show their user.
private rule PHP_Cap_Recon
{
    strings:
        $r1 = "php_uname" nocase
        $r2 = "posix_getpwuid" nocase
        $r3 = "getmyuid" nocase
        $r4 = "disable_functions" nocase
        $r5 = /ini_get\s*\(\s*['"]safe_mode['"]/ nocase
        $r6 = "uname -a"
        $r7 = "/etc/passwd"
        $r8 = "disk_free_space" nocase
        $r9 = "open_basedir" nocase
        $r10 = "get_current_user" nocase
        $r11 = "posix_getgrgid" nocase
        $r12 = /["'](whoami|id|ifconfig|ipconfig|netstat -an|ps aux|ls -la|cat \/etc\/issue|net user|systeminfo|tasklist)["']/ nocase
        $r13 = "getmypid" nocase
        $r14 = "SERVER_SOFTWARE"
        $r15 = /`\s*(uname -a|id|pwd|whoami|ls -la|ps aux|netstat -an|cat \/etc\/passwd)\s*`/
    condition:
        filesize < 4MB and 3 of them
}

// File-manager operations.
private rule PHP_Cap_Files
{
    strings:
        $f1 = /\b(opendir|scandir|readdir|glob)\s*\(/ nocase
        $f2 = /\bis_writ(e)?able\s*\(/ nocase
        $f3 = /\bfileperms\s*\(/ nocase
        $f4 = /\bunlink\s*\(/ nocase
        $f5 = /\brmdir\s*\(/ nocase
        $f6 = /\brename\s*\(/ nocase
        $f7 = /\bchmod\s*\(/ nocase
        $f8 = /\bmove_uploaded_file\s*\(|\$_FILES\b|\$HTTP_POST_FILES\b/ nocase
        $f9 = /\b(file_put_contents|fwrite|fputs)\s*\(/ nocase
        $f10 = /\b(readfile|file_get_contents|fread|highlight_file|show_source)\s*\(/ nocase
        $f11 = /\bfilemtime\s*\(|\bfileowner\s*\(|\bfilegroup\s*\(/ nocase
        $f12 = /\bmkdir\s*\(/ nocase
        $f13 = /\btouch\s*\(/ nocase
    condition:
        filesize < 4MB and 7 of them
}

// Network tools: back-connect and bind shells, port scanners.
private rule PHP_Cap_Network
{
    strings:
        $sock = /\b(fsockopen|socket_create|stream_socket_server|socket_bind|socket_listen)\b/ nocase
        $shell = /\/bin\/(ba)?sh\b|cmd\.exe|back[ \-_]?connect|bind[ \-_]?(port|shell)|backdoor/ nocase
    condition:
        filesize < 4MB and $sock and $shell
}

// Database clients on request-supplied servers, with dumps.
private rule PHP_Cap_Sql
{
    strings:
        $conn = /\b(mysql_connect|mysqli_connect|mysql_pconnect|pg_connect|mssql_connect|new\s+mysqli|new\s+PDO)\s*\(/ nocase
        $q1 = "SHOW DATABASES" nocase
        $q2 = "SHOW TABLES" nocase
        $q3 = /\bmysql_(list_dbs|list_tables)\s*\(/ nocase
    condition:
        filesize < 4MB and $conn and any of ($q*)
}

// A user interface of the webshell kind: words that ordinary applications do not put on a
// page together.
private rule PHP_Cap_Ui
{
    strings:
        $u1 = /safe[ _\-]?mode/ nocase
        $u2 = /\bshell\b/ nocase
        $u3 = /back[ \-_]?connect/ nocase
        $u4 = /self[ \-_]?(remove|kill|delete)/ nocase
        $u5 = /\bbypass\b/ nocase
        $u6 = /\bh[a4]ck(ed|er|z)?\b/ nocase
        $u7 = /\bexploit\b/ nocase
        $u8 = /\b(execute|run) (command|cmd)\b/ nocase
        $u9 = /\bbrute\b|\bbruteforce\b/ nocase
        $u10 = /\bdeface\b/ nocase
        $u11 = /\bsymlink\b/ nocase
        $u12 = /\bbind\b/ nocase
        $u13 = /\bcmd\b/ nocase
        $u14 = /\bencoder\b|\bdecoder\b/ nocase
    condition:
        filesize < 4MB and 3 of them
}

// An HTML field for a command: `<input name="cmd">`, `<textarea name=command>` …
private rule PHP_Cap_Command_Field
{
    strings:
        $field = /<(input|textarea|select)\b[^>]{0,160}\bname\s*=\s*\\?["']?([\w\-]{0,12}(cmd|command|komut|comando|cmnd)[\w\-]{0,12}|exec|execute|shell|c|e|x|cm)\\?["' >\\]/ nocase
    condition:
        filesize < 4MB and $field
}

// Request input of any kind, including the pre-PHP-4.1 arrays.
private rule PHP_Cap_Request
{
    strings:
        $r = /\$_(GET|POST|REQUEST|COOKIE|FILES)\b|\$HTTP_(GET|POST|COOKIE|POST_FILES)_VARS\b|php:\/\/input|\$_SERVER\s*\[\s*['"]HTTP_/ nocase
    condition:
        filesize < 4MB and $r
}

// A PHP page with a command box: a shell command run from a variable, and a form field
// named for a command (the classic cmd.php, and the big shells' console).
rule PHP_Command_Console
{
    meta:
        description = "PHP page with a command input field that runs shell commands from a variable (webshell console)"
        threat_type = "WebShell"
        score = 85
    strings:
        $php = /<\?(php|=|\s)|<script\s+language\s*=\s*["']?php/ nocase private
        $exec = /[^\w>:$\\](system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*[@(]*\s*\$[^;\r\n]{0,80}/ nocase
    condition:
        filesize < 4MB and $php and ($exec or PHP_Cap_Exec) and PHP_Cap_Command_Field
}

// The big webshells (c99, r57, WSO, b374k, PhpSpy and their many clones): command or code
// execution together with at least two of file management, server reconnaissance,
// network tools, database tools and a webshell vocabulary.
rule PHP_Webshell_Toolkit
{
    meta:
        description = "PHP webshell toolkit: runs commands or code and offers file management, server reconnaissance, network or database tools"
        threat_type = "WebShell"
        score = 90
    strings:
        $php = /<\?(php|=|\s)|<script\s+language\s*=\s*["']?php/ nocase private
        $run = /[^\w>:$\\](system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|eval|assert)\s*\(\s*[@(]*\s*\$[^;\r\n]{0,80}/ nocase
    condition:
        filesize < 4MB and $php and PHP_Cap_Request and ($run or PHP_Cap_Exec or PHP_Cap_Eval) and
        (
            (PHP_Cap_Files and PHP_Cap_Recon) or
            (PHP_Cap_Files and PHP_Cap_Network) or
            (PHP_Cap_Recon and PHP_Cap_Network) or
            (PHP_Cap_Recon and PHP_Cap_Ui) or
            (PHP_Cap_Files and PHP_Cap_Ui and PHP_Cap_Command_Field) or
            (PHP_Cap_Sql and PHP_Cap_Ui and (PHP_Cap_Recon or PHP_Cap_Files)) or
            (PHP_Cap_Network and PHP_Cap_Ui)
        )
}

// Tools built and started from a page: a Perl/Python/C back-connect written to disk and
// run (`system("perl /tmp/bc.pl ".$ip." ".$port)`), compiled (`gcc -o`), or run detached.
rule PHP_Exec_Dropped_Tool
{
    meta:
        description = "PHP that starts a dropped Perl/Python/C tool (back-connect, bind shell) with request parameters"
        threat_type = "WebShell"
        score = 85
    strings:
        $run = /[^\w>:$\\](system|passthru|shell_exec|exec|popen|proc_open)\s*\(\s*["'](perl|python[23]?|gcc|cc|\.\/|\/tmp\/|nohup|chmod \+?[0-7x]{1,4})\b[^"'\r\n;]{0,60}["']\s*\.\s*\$/ nocase
        $tmp = /["']\/tmp\/|["']\/var\/tmp\/|\/dev\/shm/ private
        $write = /\b(fwrite|fputs|file_put_contents)\s*\(/ nocase private
    condition:
        filesize < 4MB and $run and ($tmp or $write)
}

// Packed loaders: the payload decoded at run time and evaluated, under names no programmer
// writes by hand ($OOO0O0O0, $__________, $GLOBALS['x'][12](…)), or through a function
// whose name is itself in a variable: eval($_x('…')).
rule PHP_Obfuscated_Loader
{
    meta:
        description = "PHP packed loader: evaluates decoded code through machine-generated names or a variable function"
        threat_type = "WebShell"
        score = 85
    strings:
        $eval_varfunc = /[^\w>:$\\](eval|assert)\s*\(\s*@?\s*\$\{?[a-zA-Z_\x7f-\xff][\w\x7f-\xff]{0,40}\}?(\s*\[[^\]\r\n]{1,40}\])*\s*\(/ nocase
        $eval_globals = /[^\w>:$\\](eval|assert)\s*\(\s*@?\s*\$GLOBALS\s*\[/ nocase
        $o0 = /\$[O0_]{5,}\b/ private
        $ll = /\$[lI1_]{6,}\b/ private
        $gvar = /\$\{\s*["'](\\x[0-9a-fA-F]{2}|\\[0-7]{3}|[A-Za-z_]){3,24}["']\s*\}\s*\[/ private
        $globals_call = /\$GLOBALS\s*\[\s*['"][^'"\r\n]{1,40}['"]\s*\]\s*\[\s*\d{1,4}\s*\]\s*\(/ private
        $decode = /\b(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|convert_uudecode|hex2bin|urldecode|rawurldecode)\b/ nocase private
        $escname = /=\s*"\w{0,6}(\\(x[0-9a-fA-F]{2}|[0-7]{2,3})\w{0,3}){4,}"\s*;/ private
        $eval = /[^\w>:$\\](eval|assert|create_function|preg_replace)\s*\(/ nocase private
    condition:
        filesize < 4MB and (
            (($eval_varfunc or $eval_globals) and ($decode or $escname))
            or ($eval and $decode and (#o0 > 8 or #ll > 8))
            or #globals_call > 20
            or (#gvar > 5 and ($eval or $decode))
        )
}

// Obfuscation that hides strings from a reader, next to code evaluation: many chr()
// pieces, long runs of \x escapes, or the payload split and reassembled.
rule PHP_Obfuscated_Strings_Eval
{
    meta:
        description = "PHP that builds code or function names from chr()/escape sequences and evaluates or calls them"
        threat_type = "WebShell"
        score = 80
    strings:
        $chr = /\bchr\s*\(\s*\d{1,3}\s*\)\s*\.\s*chr\s*\(\s*\d{1,3}\s*\)/ nocase
        $hexrun = /(\\x[0-9a-fA-F]{2}){12}/
        $fchr = /\$[a-zA-Z_]\w{0,10}\s*\(\s*\d{2,3}\s*\)\s*\.\s*\$[a-zA-Z_]\w{0,10}\s*\(\s*\d{2,3}\s*\)/
        $run = /[^\w>:$\\](eval|assert|create_function)\s*\(\s*[@(]*\s*\$/ nocase private
        $varcall = /[^\w>:$\\]\$[a-zA-Z_]\w{0,30}\s*\(\s*[@(]*\s*\$_(GET|POST|REQUEST|COOKIE)\b/ nocase private
    condition:
        filesize < 1MB and ($run or $varcall) and (#chr > 10 or #hexrun > 3 or #fchr > 5)
}

// Every string spelled through a variable that holds chr: `$f = chr(99).chr(104).chr(114)`
// (or `'chr'`), then `$f(101).$f(120).$f(101).$f(99)` for "exec". Code meant to be read never
// spells its strings one character code at a time through a variable; loaders and the probes
// that list which command functions a host allows do, to pass string scanners.
rule PHP_Aliased_Chr_Strings
{
    meta:
        description = "PHP that spells its strings one character code at a time through a variable holding chr"
        threat_type = "WebShell"
        score = 75
    strings:
        $alias_name = /\$[a-zA-Z_]\w{0,20}\s*=\s*["']chr["']/ nocase
        $alias_spelled = /\$[a-zA-Z_]\w{0,20}\s*=\s*chr\s*\(\s*99\s*\)\s*\.\s*chr\s*\(\s*104\s*\)\s*\.\s*chr\s*\(\s*114\s*\)/ nocase
        $fchr = /\$[a-zA-Z_]\w{0,10}\s*\(\s*\d{2,3}\s*\)\s*\.\s*\$[a-zA-Z_]\w{0,10}\s*\(\s*\d{2,3}\s*\)/
    condition:
        filesize < 1MB and (#fchr > 30 or (any of ($alias_*) and #fchr > 5))
}

// Safe-mode and open_basedir bypasses: reading any file through curl's file://, restoring
// ini settings, LD_PRELOAD through mail(), symlinks to the server root.
rule PHP_Restriction_Bypass
{
    meta:
        description = "PHP tool that bypasses safe_mode/open_basedir/disable_functions to read files or run commands"
        threat_type = "WebShell"
        score = 80
    strings:
        $curl_file = /CURLOPT_URL\s*,\s*["']file:/ nocase
        $ini_restore = /\bini_restore\s*\(\s*["'](safe_mode|open_basedir)["']/ nocase
        $preload = /\bputenv\s*\(\s*["']LD_PRELOAD=/ nocase
        $symlink_root = /\bsymlink\s*\(\s*["']\/["']/ nocase
        $zlib = /["']compress\.zlib:\/\/["']\s*\.\s*\$/ nocase
        $imap = /\bimap_open\s*\([^;]{0,120}-oProxyCommand/ nocase
        $req = /\$_(GET|POST|REQUEST)\b/ private
    condition:
        filesize < 1MB and any of ($curl_file, $ini_restore, $preload, $symlink_root, $imap, $zlib) and $req
}

// A small page that stores an upload under the client's own name, with its own form:
// the self-contained uploader that intruders drop first.
rule PHP_Small_Uploader_Page
{
    meta:
        description = "Small self-contained PHP upload page that keeps the client's file name"
        threat_type = "WebShell"
        score = 75
    strings:
        $move = /\b(move_uploaded_file|copy)\s*\(/ nocase
        $name = /\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']?name["']?\s*\]|\$HTTP_POST_FILES/ nocase private
        $form = /enctype\s*=\s*\\?["']?multipart\/form-data/ nocase private
        $check = /getimagesize|pathinfo|in_array|preg_match|finfo|mime|\bext(ension)?\b|\bstrtolower\s*\(\s*end\s*\(|wp_handle_upload/ nocase private
    condition:
        filesize < 6KB and $move and $name and not $check and ($form or filesize < 2KB)
}

// Mass mailers: a list of recipients from the request, one mail() each.
rule PHP_Mass_Mailer
{
    meta:
        description = "PHP mass mailer: sends mail to a recipient list taken from the request"
        threat_type = "WebShell"
        score = 75
    strings:
        $list = /\bexplode\s*\(\s*["'](\\n|\\r\\n|,|;)["']\s*,\s*\$_(POST|GET|REQUEST)\s*\[/ nocase
        $mail = /\bmail\s*\(\s*\$/ nocase
        $loop = /\b(foreach|for|while)\s*\(/ nocase private
    condition:
        filesize < 200KB and $list and $mail and $loop
}

// A function name that is a string in a variable, called on request input:
// $a = 'assert'; $a($_POST['x']);  $f = "sys"."tem"; … — and the bare form in a small file,
// where nothing else could explain it: $_($_POST['z']).
rule PHP_Named_Function_Variable_Request
{
    meta:
        description = "PHP that stores the name of eval/assert/system … in a variable and calls it with request input"
        threat_type = "WebShell"
        score = 85
    strings:
        $name = /\$[a-zA-Z_]\w{0,30}\s*=\s*["'](assert|eval|system|exec|shell_exec|passthru|popen|proc_open|create_function|call_user_func|call_user_func_array|pcntl_exec|array_map|preg_replace|base64_decode)["']\s*;/ nocase
        $call = /[^\w>:$\\]@?\$[a-zA-Z_]\w{0,30}\s*\(\s*[@(]*\s*(\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|["']php:\/\/input|file_get_contents\s*\(\s*["']php:)/ nocase
    condition:
        filesize < 16MB and (
            (filesize < 100KB and $name and $call)
            or (filesize < 4KB and $call)
        )
}

// The weevely family: function names cleaned of junk characters at run time
// (str_replace('xx', '', 'cxxreaxxte_fxxunction')) and the result called.
rule PHP_Junk_Stripped_Function_Name
{
    meta:
        description = "PHP that assembles a function name by stripping junk characters and calls it (weevely style)"
        threat_type = "WebShell"
        score = 85
    strings:
        $strip = /\bstr_replace\s*\(\s*["'][^"'\r\n]{1,8}["']\s*,\s*["']{2}\s*,\s*["'][^"'\r\n]{12,200}["']\s*\)/ nocase
        $cf_call = /\$[a-zA-Z_]\w{0,30}\s*\(\s*["']{2}\s*,/ private
        $varcall = /\$[a-zA-Z_]\w{0,30}\s*\(\s*\)\s*;/ private
    condition:
        filesize < 100KB and #strip >= 2 and ($cf_call or $varcall)
}

// Droppers that write a decoded or request-supplied payload into a .php file.
rule PHP_Writes_Php_Payload
{
    meta:
        description = "PHP that writes decoded or request-supplied code into a .php file"
        threat_type = "WebShell"
        score = 80
    strings:
        $put = /\bfile_put_contents\s*\(\s*["'][^"'\r\n]{0,80}\.(php\d?|phtml|inc)["']\s*,\s*[@(]*\s*(base64_decode|gzinflate|gzuncompress|str_rot13|hex2bin|\$_(GET|POST|REQUEST|COOKIE))/ nocase
        $open = /\bfopen\s*\(\s*["'][^"'\r\n]{0,80}\.(php\d?|phtml)["']\s*,\s*["'][wa]/ nocase private
        $write = /\b(fwrite|fputs)\s*\(\s*\$\w{1,30}\s*,\s*[@(]*\s*(base64_decode|gzinflate|gzuncompress|str_rot13|hex2bin|\$_(GET|POST|REQUEST|COOKIE))/ nocase
    condition:
        filesize < 1MB and ($put or ($open and $write))
}

// Config grabbers: walk the users of /etc/passwd and read (or symlink) the configuration
// files in their web directories — database passwords of every site on a shared host.
rule PHP_Config_Grabber
{
    meta:
        description = "PHP tool that walks /etc/passwd users and reads or links the config files of their websites"
        threat_type = "WebShell"
        score = 80
    strings:
        $passwd = "/etc/passwd"
        $home = /["']\/home\/["']?\s*\.\s*\$|\/home\/\$|\/home\/\{\$/ private
        $web = /public_html|\/www\/|wp-config\.php|configuration\.php|config\.inc\.php|settings\.php/ nocase private
        $act = /\b(symlink|opendir|readdir|file_get_contents|readfile|fopen|copy)\s*\(/ nocase private
    condition:
        filesize < 1MB and $passwd and $home and $web and $act
}

// SQL consoles: a database connection to request-supplied credentials and queries from the
// request, in one small page (database webshells; full clients such as phpMyAdmin are
// applications, not pages).
rule PHP_Sql_Console
{
    meta:
        description = "PHP database console: connects with request-supplied credentials and runs request-supplied queries"
        threat_type = "WebShell"
        score = 75
    strings:
        $conn = /\b(mysql_connect|mysqli_connect|mysql_pconnect|pg_connect|mssql_connect|oci_connect|new\s+mysqli|new\s+PDO)\s*\(\s*[^;]{0,120}\$_(POST|GET|REQUEST|COOKIE)\b/ nocase
        $connvar = /\b(mysql_connect|mysqli_connect|mysql_pconnect|mssql_connect|new\s+mysqli)\s*\(\s*\$/ nocase
        $query = /\b(mysql_query|mysqli_query|pg_query|mssql_query|mysql_db_query)\s*\(\s*[^;]{0,80}\$_(POST|GET|REQUEST|COOKIE)\b/ nocase
        $queryvar = /\b(mysql_query|mysqli_query|mssql_query|mysql_db_query)\s*\(/ nocase private
        $dump = /SHOW DATABASES|SHOW TABLES|mysql_list_dbs|mysqldump/ nocase private
        $ui = /<textarea\b[^>]{0,120}name\s*=\s*\\?["']?(query|sql|sqlquery|q)\b/ nocase private
    condition:
        filesize < 200KB and (
            ($conn and ($query or ($queryvar and $dump)))
            or ($connvar and $queryvar and $dump and $ui and PHP_Cap_Exec)
        )
}

// Callbacks registered with the name of a code or command function written out:
// ob_start('assert'), array_filter($a, 'system'), register_shutdown_function('assert', …),
// and functions created only to evaluate: create_function('$a', 'return assert($a);').
rule PHP_Callback_Dangerous_Name
{
    meta:
        description = "PHP callback registered with eval/assert/system … as the function, or a function created to evaluate code"
        threat_type = "WebShell"
        score = 85
    strings:
        $cb = /\b(ob_start|array_map|array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|register_shutdown_function|register_tick_function|iterator_apply|call_user_func|call_user_func_array|set_error_handler|set_exception_handler|preg_replace_callback|array_reduce|forward_static_call|forward_static_call_array|spl_autoload_register|header_register_callback)\s*\([^;]{0,120}["'](assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)["']\s*[,)]/ nocase
        $cf = /\bcreate_function\s*\(\s*["'][^"'\r\n]{0,40}["']\s*,\s*["'][^"';\r\n]{0,80}\b(eval|assert)\s*\(/ nocase
    condition:
        filesize < 16MB and ($cb or $cf)
}

// The command-runner of webshells: a function that tries system, exec, passthru,
// shell_exec, popen, proc_open in turn, whichever the host has not disabled.
rule PHP_Exec_Fallback_Chain
{
    meta:
        description = "PHP command runner that tries every shell-execution function the host has left enabled"
        threat_type = "WebShell"
        score = 80
    strings:
        $f1 = /(function_exists|is_callable)\s*\(\s*["']system["']/ nocase
        $f2 = /(function_exists|is_callable)\s*\(\s*["']exec["']/ nocase
        $f3 = /(function_exists|is_callable)\s*\(\s*["']passthru["']/ nocase
        $f4 = /(function_exists|is_callable)\s*\(\s*["']shell_exec["']/ nocase
        $f5 = /(function_exists|is_callable)\s*\(\s*["']popen["']/ nocase
        $f6 = /(function_exists|is_callable)\s*\(\s*["']proc_open["']/ nocase
    condition:
        filesize < 4MB and 4 of them and PHP_Cap_Exec
}

// A payload decoded into a variable and evaluated a few lines later:
// $x = gzinflate(base64_decode('…')); eval($x);
rule PHP_Decoded_Variable_Eval
{
    meta:
        description = "PHP that decodes a payload into a variable and evaluates it"
        threat_type = "WebShell"
        score = 85
    strings:
        $assign = /\$[a-zA-Z_\x7f-\xff][\w\x7f-\xff]{0,30}\s*=\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|convert_uudecode|strrev)\s*\(\s*(@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|convert_uudecode|strrev)\s*\(\s*)*["'$]/ nocase private
        $sink = /[^\w>:$\\](eval|assert)\s*\(\s*(["']\?>["']\s*\.\s*)?@?\s*\$[a-zA-Z_\x7f-\xff][\w\x7f-\xff]{0,30}\s*\)/ nocase
    condition:
        filesize < 4MB and
        for any i in (1..math.min(#sink, 50)) : (
            $assign in (@sink[i] - 2048 .. @sink[i])
        )
}

// Stagers: code read from a socket to the attacker and evaluated (the Metasploit PHP
// stager and its relatives).
rule PHP_Socket_Stager
{
    meta:
        description = "PHP stager: reads code from a network connection and evaluates it"
        threat_type = "WebShell"
        score = 90
    strings:
        $sock = /\b(fsockopen|stream_socket_client|socket_connect|pfsockopen)\b/ nocase private
        $read = /\b(socket_read|fread|stream_get_contents|fgets|socket_recv)\s*\(/ nocase private
        $eval = /[^\w>:$\\](eval|assert)\s*\(\s*@?\s*\$[a-zA-Z_]\w{0,30}\s*\)|\bcreate_function\s*\(\s*["']{2}\s*,\s*\$[a-zA-Z_]\w{0,30}\s*\)/ nocase
    condition:
        filesize < 200KB and $sock and $read and $eval
}

// A tiny page whose whole job is to run what the request says: eval/assert or a shell
// command of a variable, with request input somewhere in under 3 KB.
rule PHP_Tiny_Request_Sink
{
    meta:
        description = "Tiny PHP page that evaluates or runs a variable and reads the request: a one-purpose backdoor"
        threat_type = "WebShell"
        score = 80
    strings:
        $eval = /[^\w>:$\\](eval\s*\(\s*[@(]*\s*\$[a-zA-Z_\x7f-\xff][\w\x7f-\xff]{0,30}|assert\s*\(\s*@?\s*\$[a-zA-Z_\x7f-\xff][\w\x7f-\xff]{0,30}\s*\))/ nocase
        $exec = /[^\w>:$\\](system|passthru|shell_exec|exec|popen|proc_open)\s*\(\s*[@(]*\s*\$[a-zA-Z_\x7f-\xff][\w\x7f-\xff]{0,30}/ nocase
        $req = /\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|php:\/\/input|getallheaders\s*\(/ nocase private
        $escape = /escapeshellarg|escapeshellcmd/ nocase private
    condition:
        filesize < 3KB and $req and ($eval or (filesize < 1KB and $exec and not $escape))
}

// Windows COM shell objects from PHP: new COM('WScript.Shell') and ->Run/->Exec.
rule PHP_Com_Shell
{
    meta:
        description = "PHP that runs commands through the WScript.Shell COM object"
        threat_type = "WebShell"
        score = 85
    strings:
        $com = /new\s+COM\s*\(\s*["'](WScript\.Shell|Shell\.Application)["']/ nocase
        $run = /->\s*(Run|Exec|ShellExecute)\s*\(/ nocase private
    condition:
        filesize < 4MB and $com and $run
}
