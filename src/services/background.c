/* Work the services carry on after answering its call, counted so that berthd's shutdown can wait for it. */
#include "services/services.h"

void service_background_begin(service_context *ctx) {
        ctx->background++;
}

void service_background_end(service_context *ctx) {
        if (ctx->background > 0 && --ctx->background == 0 && ctx->on_idle)
                ctx->on_idle(ctx->on_idle_data);
}
