/* The image config (OCI image-spec config.md; Docker's container.image.v1 has the same fields we read). */
#include <string.h>

#include "basic/strv.h"
#include "images/manifest-internal.h"
#include "images/reference.h"

oci_image_config *oci_image_config_free(oci_image_config *c) {
        if (!c)
                return NULL;
        free(c->architecture);
        free(c->os);
        free(c->variant);
        free(c->os_version);
        free(c->created);
        free(c->user);
        free(c->working_dir);
        free(c->stop_signal);
        strv_free(c->env);
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->exposed_ports);
        strv_free(c->volumes);
        oci_map_done(&c->labels);
        strv_free(c->diff_ids);
        free(c);
        return NULL;
}

static int parse_exec_config(json_t *cfg, oci_image_config *c, berr **err) {
        if (!cfg || json_is_null(cfg))
                return 0;
        if (!json_is_object(cfg))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"config\" is not an object");
        if (manifest_json_string(cfg, "User", false, &c->user, err) < 0 ||
            manifest_json_string(cfg, "WorkingDir", false, &c->working_dir, err) < 0 ||
            manifest_json_string(cfg, "StopSignal", false, &c->stop_signal, err) < 0 ||
            manifest_json_strv(cfg, "Env", &c->env, err) < 0 ||
            manifest_json_strv(cfg, "Entrypoint", &c->entrypoint, err) < 0 ||
            manifest_json_strv(cfg, "Cmd", &c->cmd, err) < 0 ||
            manifest_json_keys(cfg, "ExposedPorts", &c->exposed_ports, err) < 0 ||
            manifest_json_keys(cfg, "Volumes", &c->volumes, err) < 0 ||
            manifest_json_map(cfg, "Labels", &c->labels, err) < 0)
                return berr_wrap(err, "config");
        return 0;
}

static int parse_rootfs(json_t *rootfs, oci_image_config *c, berr **err) {
        if (!json_is_object(rootfs))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "missing field \"rootfs\"");
        _cleanup_free_ char *type = NULL;
        if (manifest_json_string(rootfs, "type", true, &type, err) < 0)
                return berr_wrap(err, "rootfs");
        if (strcmp(type, "layers") != 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "rootfs: unsupported type \"%s\" (want \"layers\")",
                                type);
        if (manifest_json_strv(rootfs, "diff_ids", &c->diff_ids, err) < 0)
                return berr_wrap(err, "rootfs");
        if (!c->diff_ids)
                c->diff_ids = xcalloc(1, sizeof(char *));
        for (size_t i = 0; c->diff_ids[i]; i++)
                if (image_digest_validate(c->diff_ids[i], err) < 0)
                        return berr_wrap(err, "rootfs: diff_ids[%zu]", i);
        return 0;
}

int oci_image_config_parse(const void *buf, size_t len, oci_image_config **ret, berr **err) {
        json_t *root;
        if (manifest_json_load(buf, len, "image config", &root, err) < 0)
                return -1;
        _cleanup_oci_image_config_ oci_image_config *c = xcalloc(1, sizeof *c);
        int r = 0;
        if (manifest_json_string(root, "architecture", true, &c->architecture, err) < 0 ||
            manifest_json_string(root, "os", true, &c->os, err) < 0 ||
            manifest_json_string(root, "variant", false, &c->variant, err) < 0 ||
            manifest_json_string(root, "os.version", false, &c->os_version, err) < 0 ||
            manifest_json_string(root, "created", false, &c->created, err) < 0 ||
            parse_exec_config(json_object_get(root, "config"), c, err) < 0 ||
            parse_rootfs(json_object_get(root, "rootfs"), c, err) < 0)
                r = -1;
        json_decref(root);
        if (r < 0)
                return berr_wrap(err, "image config");
        *ret = TAKE_PTR(c);
        return 0;
}

void oci_image_config_platform(const oci_image_config *c, oci_platform *ret) {
        oci_platform p = {
                .os = xstrdup(c->os ? c->os : ""),
                .architecture = xstrdup(c->architecture ? c->architecture : ""),
                .variant = c->variant && *c->variant ? xstrdup(c->variant) : NULL,
                .os_version = c->os_version ? xstrdup(c->os_version) : NULL,
        };
        platform_normalize(&p);
        *ret = p;
}
